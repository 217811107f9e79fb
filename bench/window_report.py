"""What the analysis of a window reports: latency distributions (`Summary`), one direction of
the audio path, the timeline and start split, and the window's whole report. Pure.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from bench.tags import COUNTER_BITS

LATE_MS = 40.0
HANGUP_GRACE_S = 0.1
BARGE_MATCH_S = 2.0
FRAME_S = 0.020
COUNTER_MASK = (1 << COUNTER_BITS) - 1
STARTING_S = 4.0  # how long a call actor's start is counted as disturbing the others


@dataclass(frozen=True, slots=True)
class Summary:
    """Distribution of a measurement, in milliseconds."""

    n: int
    p50: float
    p99: float
    max: float
    mean: float

    @staticmethod
    def of(values_ms: Iterable[float] | np.ndarray[Any, Any]) -> Summary | None:
        arr = np.asarray(
            list(values_ms) if not isinstance(values_ms, np.ndarray) else values_ms,
            dtype=np.float64,
        )
        if arr.size == 0:
            return None
        p50, p99 = np.percentile(arr, [50, 99])
        return Summary(
            n=int(arr.size),
            p50=round(float(p50), 4),
            p99=round(float(p99), 4),
            max=round(float(arr.max()), 4),
            mean=round(float(arr.mean()), 4),
        )


@dataclass(slots=True)
class Samples:
    """Latencies of one direction with the times their frames were sent."""

    sent: list[np.ndarray[Any, Any]] = field(default_factory=list)
    ms: list[np.ndarray[Any, Any]] = field(default_factory=list)

    def add(self, sent: np.ndarray[Any, Any], ms: np.ndarray[Any, Any]) -> None:
        self.sent.append(sent)
        self.ms.append(ms)

    def arrays(self) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
        if not self.ms:
            return np.empty(0), np.empty(0)
        return np.concatenate(self.sent), np.concatenate(self.ms)


@dataclass(frozen=True, slots=True)
class TimelinePoint:
    """One second of a window: p99s in ms (None when nothing was measured in it)."""

    t_s: float  # seconds from the window's start
    inbound_p99: float | None
    outbound_p99: float | None
    simulator_lag_p99: float | None


@dataclass(frozen=True, slots=True)
class StartSplit:
    """A window's latencies split by whether a call actor was starting when the frame was
    sent (within STARTING_S after a start)."""

    starts: int
    starting_s: float  # seconds of the window with a start in progress
    inbound_starting: Summary | None
    inbound_apart: Summary | None
    outbound_starting: Summary | None
    outbound_apart: Summary | None


@dataclass(slots=True)
class Direction:
    """One direction of the audio path over a window."""

    expected: int = 0  # frames that had to arrive
    matched: int = 0
    lost: int = 0
    reordered: int = 0
    duplicated: int = 0
    late: int = 0  # matched with latency above LATE_MS
    excused: dict[str, int] = field(default_factory=dict)
    unmatched_received: int = 0  # arrivals nobody in the window sent
    latency_ms: Summary | None = None
    lossy_calls: list[tuple[str, int]] = field(default_factory=list)  # (call_sid, lost), top 5
    # A few lost frames, for diagnosis: (call_sid, ms after the stream started, ms before the
    # caller hung up or None, response number or 0).
    lost_samples: list[tuple[str, float, float | None, int]] = field(default_factory=list)


@dataclass(slots=True)
class WindowReport:
    start: float
    end: float
    concurrent_calls: int  # calls live through the whole window
    calls: dict[str, int]  # outcome -> count, for calls placed in the window
    callbacks_failed: int  # status callbacks of those calls not answered 2xx
    inbound: Direction
    outbound: Direction
    greeting_ms: Summary | None
    webhook_ms: Summary | None
    barge_in_ms: Summary | None
    barge_ins: dict[str, int]
    send_jitter_ms: Summary | None  # load side: how late frames left vs the 20 ms schedule
    callers_lag_ms: Summary | None
    simulator_lag_ms: Summary | None
    unlinked_calls: int  # live calls whose audio never reached a model session
    agent_timeouts: int
    violations: list[str]
    timeline: list[TimelinePoint] = field(default_factory=list)
    start_split: StartSplit | None = None

    @property
    def frames_lost(self) -> int:
        return self.inbound.lost + self.outbound.lost

    @property
    def frames_reordered(self) -> int:
        return self.inbound.reordered + self.outbound.reordered

    def p99_ms(self) -> float:
        """The worse of the two directions' p99 (inf when nothing was measured)."""
        values = [d.latency_ms.p99 for d in (self.inbound, self.outbound) if d.latency_ms]
        return max(values) if values else float("inf")

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["frames_lost"] = self.frames_lost
        data["frames_reordered"] = self.frames_reordered
        return data
