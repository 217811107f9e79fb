"""What the two ends of a benchmark saw, frame by frame. Pure data, no I/O.

Both sides write times from `time.monotonic()` (CLOCK_MONOTONIC is one clock for every process
on a Linux machine), so a time written by the load generator and one written by the realtime
simulator can be subtracted. Frame lists are `array`s: a 300-call run sends millions of frames
and these records must stay small enough to pickle between processes.

- `StreamRecord`: the caller's side of one call (webhook, media stream, every frame it sent and
  every agent frame it received, `clear`s, barge-ins).
- `SessionRecord`: the simulated model's side of one realtime session (every
  `input_audio_buffer.append` received, every audio delta sent, VAD `speech_started`s, responses
  cancelled by turn detection).
- `LagRecord`: event-loop lag samples of one process, to tell load-side slowness from the
  engine's.

`window(since)` copies a record keeping only the frames from `since` on (the ramp analyses one
step at a time).
"""

from __future__ import annotations

from array import array
from bisect import bisect_left
from dataclasses import dataclass, field, replace


def _f64() -> array[float]:
    return array("d")


def _i64() -> array[int]:
    return array("q")


def _cut(times: array[float], since: float) -> int:
    return bisect_left(times, since)


@dataclass(slots=True)
class StreamRecord:
    """One simulated call as the caller saw it. Sent keys are frame counters (1, 2, ...) of
    stream `index`; received keys are `bench.tags.frame_key`s of the agent audio."""

    index: int
    call_sid: str
    placed_at: float
    webhook_ms: float | None = None
    webhook_status: int | None = None
    # placed | refused | failed | live | ended (the caller hung up) | dropped (the server
    # closed the stream first)
    outcome: str = "placed"
    error: str = ""
    connected_at: float | None = None  # WebSocket open
    started_at: float | None = None  # `start` sent
    stop_at: float | None = None  # `stop` sent (the caller hung up)
    closed_at: float | None = None
    closed_by: str = ""  # caller | server | error
    first_media_at: float | None = None
    sent_keys: array[int] = field(default_factory=_i64)
    sent_times: array[float] = field(default_factory=_f64)
    recv_keys: array[int] = field(default_factory=_i64)
    recv_times: array[float] = field(default_factory=_f64)
    clears: list[float] = field(default_factory=list)
    barge_ins: list[float] = field(default_factory=list)  # caller started talking over audio
    agent_timeouts: int = 0  # the agent did not answer a turn in time
    marks_echoed: int = 0
    violations: list[str] = field(default_factory=list)
    callbacks_failed: int = 0

    def window(self, since: float) -> StreamRecord:
        s, r = _cut(self.sent_times, since), _cut(self.recv_times, since)
        return replace(
            self,
            sent_keys=self.sent_keys[s:],
            sent_times=self.sent_times[s:],
            recv_keys=self.recv_keys[r:],
            recv_times=self.recv_times[r:],
            clears=[t for t in self.clears if t >= since],
            barge_ins=[t for t in self.barge_ins if t >= since],
            violations=list(self.violations),
        )


@dataclass(slots=True)
class SessionRecord:
    """One realtime session as the model saw it. Append keys are `frame_key`s of the caller
    audio (tagged by the load generator); delta keys those of the audio it sent."""

    index: int
    opened_at: float
    closed_at: float | None = None
    append_keys: array[int] = field(default_factory=_i64)
    append_times: array[float] = field(default_factory=_f64)
    delta_keys: array[int] = field(default_factory=_i64)
    delta_times: array[float] = field(default_factory=_f64)
    delta_responses: array[int] = field(default_factory=_i64)  # response number per delta
    speech_started: list[float] = field(default_factory=list)
    cancelled: dict[int, float] = field(default_factory=dict)  # response number -> done time
    first_stream: int | None = None  # stream number of the first tagged append

    def window(self, since: float) -> SessionRecord:
        a, d = _cut(self.append_times, since), _cut(self.delta_times, since)
        return replace(
            self,
            append_keys=self.append_keys[a:],
            append_times=self.append_times[a:],
            delta_keys=self.delta_keys[d:],
            delta_times=self.delta_times[d:],
            delta_responses=self.delta_responses[d:],
            speech_started=[t for t in self.speech_started if t >= since - 5.0],
            cancelled=dict(self.cancelled),
        )


@dataclass(slots=True)
class LagRecord:
    """Event-loop lag of one process: how late a periodic timer fired (seconds)."""

    role: str
    times: array[float] = field(default_factory=_f64)
    lags: array[float] = field(default_factory=_f64)

    def window(self, since: float, until: float = float("inf")) -> LagRecord:
        a, b = _cut(self.times, since), _cut(self.times, until)
        return replace(self, times=self.times[a:b], lags=self.lags[a:b])


@dataclass(slots=True)
class CallerDump:
    """Everything the load generator hands to the driver."""

    streams: list[StreamRecord]
    lag: LagRecord
    pid: int


@dataclass(slots=True)
class SimDump:
    """Everything the realtime simulator hands to the driver."""

    sessions: list[SessionRecord]
    lag: LagRecord
    pid: int
