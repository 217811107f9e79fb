"""What simulated callers call and how they talk: the target, the behaviour, the lines they say.

Pure: frozen settings (sent as JSON to the callers' process, `bench.loadgen`), the result of
placing calls, and the utterances as 20 ms base64 frames of speech-like audio.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from engine.audio import b64, frames, speech_like

LINES = (
    "Hi, I had a small accident yesterday and I would like to start a claim.",
    "Yes, the car is drivable, but the rear bumper is badly dented.",
    "Can you tell me what my deductible is for this?",
    "Okay. And how long does it usually take until an adjuster calls?",
    "I also wanted to ask about adding my daughter to the policy.",
    "Great, thank you. That was everything I needed.",
)
BARGE_LINE = "Sorry, wait, can I ask something?"


@dataclass(frozen=True, slots=True)
class TargetSpec:
    """Where the calls go. Webhooks are POSTed to `webhook_base`; signatures cover
    `public_base_url` (what the target rebuilds behind its proxy)."""

    webhook_base: str
    public_base_url: str
    auth_token: str
    to_numbers: tuple[str, ...]
    voice_path: str = "/twilio/voice"
    status_path: str | None = "/twilio/status"
    account_sid: str = "AC" + "0" * 32


@dataclass(frozen=True, slots=True)
class Behaviour:
    """How a simulated caller talks (ranges are uniform, in milliseconds)."""

    speak_ms: tuple[int, int] = (1200, 2200)
    pause_ms: tuple[int, int] = (300, 1200)
    barge_in_probability: float = 0.3
    barge_after_ms: tuple[int, int] = (600, 1500)
    barge_ms: int = 900
    quiet_ms: int = 600
    agent_timeout_s: float = 12.0


@dataclass(slots=True)
class GrowResult:
    placed: int = 0
    live: int = 0
    failed: int = 0
    refused: int = 0
    active: int = 0
    first_placed_at: float = 0.0
    last_live_at: float = 0.0
    errors: list[str] = field(default_factory=list)


def utterance(text: str, ms: int) -> tuple[str, ...]:
    """`text` as `ms` of speech-like audio, one base64 payload per 20 ms frame."""
    return tuple(b64(f) for f in frames(speech_like(text, ms)))
