"""What a simulated Twilio call leaves behind, per media stream, and how it fails.

Pure records: `StreamRecord` (one `<Connect><Stream>` connection: events in, marks echoed,
clears, utterances, the audio heard) and the errors a scripted call raises (`SimCallError`,
`SimStepTimeout`), which carry the call's result up to the failure.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from engine.sim.twilio_playback import HeardSegment

if TYPE_CHECKING:
    from engine.sim.caller_result import CallResult


@dataclass(slots=True)
class StreamRecord:
    """What happened on one media stream connection (times are time.monotonic())."""

    stream_sid: str
    custom_parameters: dict[str, str]
    url: str = ""
    index: int = 0
    started_at: float = 0.0
    closed_by: str = ""  # "caller" | "server" | "error" | "rest" (Twilio ended it: REST update)
    close_code: int | None = None
    events_in: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    clears: list[float] = field(default_factory=list)
    utterances: list[float] = field(default_factory=list)  # when each Speak/BargeIn began
    marks_sent_back: list[str] = field(default_factory=list)
    dtmf_sent: list[str] = field(default_factory=list)
    stop_sent: bool = False
    sent_frames: list[tuple[float, str]] = field(default_factory=list)
    segments: list[HeardSegment] = field(default_factory=list)
    heard_bytes: int = 0
    first_media_at: float | None = None
    status_callbacks: list[tuple[str, int | None]] = field(default_factory=list)

    def first_audio_after_start_ms(self) -> float | None:
        if self.first_media_at is None:
            return None
        return (self.first_media_at - self.started_at) * 1000.0


class SimCallError(RuntimeError):
    """A simulated call could not go as scripted; `result` holds what happened until then."""

    def __init__(self, message: str, result: CallResult | None = None) -> None:
        super().__init__(message)
        self.result = result


class SimStepTimeout(SimCallError):
    """A script step did not complete within its timeout."""
