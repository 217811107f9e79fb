"""One call's measurements, counted where they happen and reported once when the call ends.
Pure: the clock is passed in, nothing is sent anywhere from here.

Counters are plain attributes of one mutable record (a per-frame count is one integer
increment, no allocation); `observe` takes the state machine's `Observe` commands; the
set-up timeline notes when each step of the greeting's path first happened; `tool_ran` counts
each tool call's latency by tool and status, and the spoken fillers are counted by tool.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import assert_never

from engine.call_events import Observe
from engine.histogram import Histogram
from engine.tools import ToolStatus

# Upper bounds in milliseconds of a tool call's latency: from the model's function call frame
# arriving to the tool's result being ready (what the caller waits through).
TOOL_BUCKETS_MS: tuple[int, ...] = (10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000)


@dataclass(slots=True)
class CallMetrics:
    prepared_at: float  # monotonic seconds when the call was taken on
    stream_started_at: float | None = None
    timeline: dict[str, float] = field(default_factory=dict)  # step -> ms after prepared_at
    greeting_ms: float | None = None
    turn_ms: list[float] = field(default_factory=list)  # caller stop -> first audio sent
    turn_model_ms: list[float] = field(default_factory=list)  # engine.turn_taking's breakdown
    turn_heard_ms: list[float] = field(default_factory=list)
    barge_ins: int = 0
    backchannels_kept_talking: int = 0
    model_errors: int = 0
    protocol_errors: int = 0
    fillers: dict[str, int] = field(default_factory=dict)  # tool -> fillers spoken for it
    tool_ms: dict[tuple[str, ToolStatus], Histogram] = field(default_factory=dict)
    emergencies: int = 0
    guardrails: dict[str, int] = field(default_factory=dict)  # engine.advice_guard kind -> cuts
    frames_in: int = 0
    frames_out: int = 0
    dropped: int = 0
    inbound_latency_us: Histogram = field(default_factory=Histogram)
    outbound_latency_us: Histogram = field(default_factory=Histogram)

    def mark(self, step: str, now: float) -> None:
        """Note when a set-up step first happened (the greeting's timeline, logged at the end)."""
        if step not in self.timeline:
            self.timeline[step] = round((now - self.prepared_at) * 1000, 1)

    def observe(self, command: Observe, now: float) -> None:
        match command.metric:
            case "greeting_ms":
                self.greeting_ms = command.value
                self.mark("greeting_sent", now)
            case "turn_ms":
                self.turn_ms.append(command.value)
            case "turn_model_ms":
                self.turn_model_ms.append(command.value)
            case "turn_heard_ms":
                self.turn_heard_ms.append(command.value)
            case "barge_in":
                self.barge_ins += 1
            case "backchannel_kept_talking":
                self.backchannels_kept_talking += 1
            case "model_error":
                self.model_errors += 1
            case "protocol_error":
                self.protocol_errors += 1
            case "filler":
                self.fillers[command.detail] = self.fillers.get(command.detail, 0) + 1
            case "emergency":
                self.emergencies += 1
            case "guardrail":
                self.guardrails[command.detail] = self.guardrails.get(command.detail, 0) + 1
            case _:
                assert_never(command.metric)

    def tool_ran(self, tool: str, status: ToolStatus, ms: float) -> None:
        """Count one tool call's latency under its tool and status."""
        histogram = self.tool_ms.get((tool, status))
        if histogram is None:
            histogram = self.tool_ms[(tool, status)] = Histogram.with_bounds(TOOL_BUCKETS_MS)
        histogram.observe(ms)

    def duration_ms(self, now: float) -> int:
        """How long the call lasted: from the stream's start, or from set-up when it never
        started."""
        started = self.stream_started_at if self.stream_started_at is not None else self.prepared_at
        return int((now - started) * 1000)
