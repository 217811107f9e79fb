"""The simulated caller's script: what the caller does, step by step, on a Twilio call.

Pure: frozen step dataclasses (`WaitForAgent`, `Speak`, `BargeIn`, `Pause`, `Dtmf`, `HangUp`),
the `CallScript` that lists them, the `ScriptCursor` the successive streams of one call share,
and the base64 20 ms frames of each utterance (computed once per text/ms/WAV). The steps are
run by engine.sim.twilio_media.MediaStream.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import TypeAlias

from engine.audio import b64, frames, load_wav_as_ulaw, speech_like

DTMF_DIGITS = frozenset("0123456789*#")


@dataclass(frozen=True, slots=True)
class WaitForAgent:
    """Wait until agent audio has played in this turn, finished, and `quiet_ms` passed."""

    timeout: float = 10.0
    quiet_ms: int = 600


@dataclass(frozen=True, slots=True)
class Speak:
    """Stream `speech_like(text, ms)` (or the WAV) in real time in place of silence."""

    text: str
    ms: int | None = None
    wav: Path | None = None


@dataclass(frozen=True, slots=True)
class BargeIn:
    """Wait until `after_ms` of agent audio has played in the current turn, then speak
    `speech_like(text, ms)` or the WAV."""

    after_ms: int
    text: str
    ms: int | None = None
    wav: Path | None = None

    def __post_init__(self) -> None:
        if self.after_ms < 0:
            raise ValueError("BargeIn.after_ms must be >= 0")


@dataclass(frozen=True, slots=True)
class Pause:
    seconds: float

    def __post_init__(self) -> None:
        if self.seconds < 0:
            raise ValueError("Pause.seconds must be >= 0")


@dataclass(frozen=True, slots=True)
class Dtmf:
    digit: str

    def __post_init__(self) -> None:
        if len(self.digit) != 1 or self.digit not in DTMF_DIGITS:
            raise ValueError(f"Dtmf.digit must be one of 0-9 * #, got {self.digit!r}")


@dataclass(frozen=True, slots=True)
class HangUp:
    """Send `stop` and close the socket: the caller hung up."""


Step: TypeAlias = WaitForAgent | Speak | BargeIn | Pause | Dtmf | HangUp


@dataclass(frozen=True, slots=True)
class CallScript:
    steps: tuple[Step, ...]
    from_number: str = "+15550100001"
    to_number: str = "+15550109999"
    queue_patience_s: float | None = None  # held in a queue this long, the caller hangs up
    hold_patience_s: float | None = None  # held in a conference this long, the caller hangs up


class ScriptCursor:
    """Position in a script, shared by the successive streams of one call.

    A step interrupted by a closing stream is not counted as done: the next stream (after a
    `<Connect action>` reconnect) runs it again, then the remaining steps.
    """

    def __init__(self, steps: tuple[Step, ...]) -> None:
        self.steps = steps
        self.index = 0


@functools.lru_cache(maxsize=512)
def _payloads(text: str, ms: int | None, wav: str | None) -> tuple[str, ...]:
    audio = load_wav_as_ulaw(Path(wav)) if wav is not None else speech_like(text, ms)
    return tuple(b64(frame) for frame in frames(audio))


def utterance_payloads(step: Speak | BargeIn) -> tuple[str, ...]:
    """Base64 20 ms frames of what the caller says in `step` (cached per text/ms/WAV path)."""
    return _payloads(step.text, step.ms, str(step.wav) if step.wav is not None else None)
