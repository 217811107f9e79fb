"""`CallResult`: the record a simulated inbound call leaves behind, and its derived timings.

Pure: filled in by the call's run (`engine.sim.caller_run`), read by tests, the CLI and bench.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from engine.audio import BYTES_PER_MS
from engine.sim.twilio_call_records import StreamRecord
from engine.sim.twilio_playback import HeardSegment


@dataclass(slots=True)
class CallResult:
    """Everything the simulated caller saw and did. Times are time.monotonic()."""

    call_sid: str
    twiml: list[str] = field(default_factory=list)  # every TwiML document received, in order
    webhook_ms: float = 0.0  # /twilio/voice round trip
    webhook_status: int | None = None
    refused_say: str | None = None  # <Say> text of the document that ended the call
    said: list[str] = field(default_factory=list)  # every <Say> heard
    streams: list[StreamRecord] = field(default_factory=list)
    transferred_to: str | None = None
    held_at: float | None = None  # entered a conference to wait (a warm transfer's hold)
    joined_at: float | None = None  # the conference started: someone joined the caller
    left_hold_at: float | None = None  # left the conference (redirected back, or it ended)
    queued_at: float | None = None  # entered a queue (`<Enqueue>`)
    left_queue_at: float | None = None  # left it: dequeued, `<Leave>`, hung up
    queue_result: str | None = None  # how: dequeued, leave, hangup, queue-full, redirected
    hung_up_via_rest: bool = False
    status_callback_status: int | None = None
    recording_callbacks: list[tuple[str, int | None]] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)  # Twilio debugger errors, with codes
    duration_s: float = 0.0

    @property
    def heard_ms(self) -> int:
        """Total agent audio played to the caller."""
        return sum(s.heard_bytes for s in self.streams) // BYTES_PER_MS

    def agent_segments(self) -> list[HeardSegment]:
        """Contiguous runs of played agent audio over all streams (times per own stream)."""
        return [seg for s in self.streams for seg in s.segments]

    def hold_ms(self) -> float | None:
        """A warm transfer's hold: entering the conference -> joined (or leaving unjoined)."""
        end = self.joined_at or self.left_hold_at
        if self.held_at is None or end is None:
            return None
        return (end - self.held_at) * 1000

    def first_audio_after_start_ms(self) -> float | None:
        """First stream: `start` sent -> first agent audio received."""
        return self.streams[0].first_audio_after_start_ms() if self.streams else None
