"""What the call pool sums up from its calls' reports, for /metrics: outcomes, greeting and turn
times, the audio path's latencies, frames, and each tool's latency by status with the fillers
spoken for it. Pure: `add` takes a CallReport, `stats` gives plain data.

A report is cumulative for its call's session: a live call reports every few seconds (outcome
`live`) and once more at its end, so `add` is given the call's previous report and counts only
what is new since (a session that counts less than the previous report is a new session of
the call, resumed on another actor, and counts from zero).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from actors.ports import CallReport
from engine.call_metrics import TOOL_BUCKETS_MS
from engine.histogram import Histogram

GREETING_BUCKETS_MS = (25, 50, 100, 250, 500, 1000, 2500, 5000)
LIVE = "live"  # the outcome of a live call's report


def _data(histogram: Histogram) -> tuple[tuple[int, ...], list[int], float]:
    return histogram.bounds, list(histogram.counts), histogram.sum


def _merge_new(
    into: Histogram,
    counts: Sequence[int],
    total: float,
    before: Sequence[int],
    before_total: float,
) -> None:
    """Merge the observations `counts` has beyond `before` (the same histogram earlier)."""
    if not counts:
        return
    if not before:
        into.merge(list(counts), total)
        return
    into.merge([n - b for n, b in zip(counts, before, strict=True)], total - before_total)


class ReportTotals:
    """The sums of every report added (a pool's calls since it started)."""

    def __init__(self) -> None:
        self._outcomes: Counter[str] = Counter()
        self._greeting_ms = Histogram.with_bounds(GREETING_BUCKETS_MS)
        self._turn_ms = Histogram.with_bounds(GREETING_BUCKETS_MS)
        self._turn_model_ms = Histogram.with_bounds(GREETING_BUCKETS_MS)
        self._turn_heard_ms = Histogram.with_bounds(GREETING_BUCKETS_MS)
        self._inbound = Histogram()
        self._outbound = Histogram()
        self._tool_ms: dict[tuple[str, str], Histogram] = {}
        self._fillers: Counter[str] = Counter()
        self._guardrails: Counter[str] = Counter()
        self._barge_ins = 0
        self._model_errors = 0
        self._frames = {"in": 0, "out": 0, "dropped": 0}
        self._last: dict[str, CallReport] = {}  # live call -> its last report, counted

    def live(self, report: CallReport) -> None:
        """A live call's report so far: what is new since its previous one is counted."""
        self.add(report, self._last.get(report.call_sid))
        self._last[report.call_sid] = report

    def ended(self, report: CallReport) -> None:
        """A call's last report: what is new since its last live one is counted."""
        self.add(report, self._last.pop(report.call_sid, None))

    def add(self, report: CallReport, last: CallReport | None = None) -> None:
        """Count what `report` adds to `last`, the same call's previous report (if any)."""
        if last is not None and report.frames_in < last.frames_in:
            last = None  # a new session of the call (resumed on another actor)
        if report.outcome != LIVE:
            self._outcomes[report.outcome] += 1
        if report.greeting_ms is not None and (last is None or last.greeting_ms is None):
            self._greeting_ms.observe(report.greeting_ms)
        for ms in report.turn_ms[len(last.turn_ms) if last else 0 :]:
            self._turn_ms.observe(ms)
        for ms in report.turn_model_ms[len(last.turn_model_ms) if last else 0 :]:
            self._turn_model_ms.observe(ms)
        for ms in report.turn_heard_ms[len(last.turn_heard_ms) if last else 0 :]:
            self._turn_heard_ms.observe(ms)
        _merge_new(
            self._inbound,
            report.inbound_latency_us,
            report.inbound_latency_sum_us,
            last.inbound_latency_us if last else (),
            last.inbound_latency_sum_us if last else 0.0,
        )
        _merge_new(
            self._outbound,
            report.outbound_latency_us,
            report.outbound_latency_sum_us,
            last.outbound_latency_us if last else (),
            last.outbound_latency_sum_us if last else 0.0,
        )
        before = {(t.tool, t.status): t for t in last.tool_ms} if last else {}
        for tool in report.tool_ms:
            key = (tool.tool, tool.status)
            if key not in self._tool_ms:
                self._tool_ms[key] = Histogram.with_bounds(TOOL_BUCKETS_MS)
            old = before.get(key)
            _merge_new(
                self._tool_ms[key],
                tool.counts,
                tool.sum_ms,
                old.counts if old else (),
                old.sum_ms if old else 0.0,
            )
        fillers_before = dict(last.fillers) if last else {}
        for name, n in report.fillers:
            self._fillers[name] += n - fillers_before.get(name, 0)
        guardrails_before = dict(last.guardrails) if last else {}
        for kind, n in report.guardrails:
            self._guardrails[kind] += n - guardrails_before.get(kind, 0)
        self._barge_ins += report.barge_ins - (last.barge_ins if last else 0)
        self._model_errors += report.model_errors - (last.model_errors if last else 0)
        self._frames["in"] += report.frames_in - (last.frames_in if last else 0)
        self._frames["out"] += report.frames_out - (last.frames_out if last else 0)
        self._frames["dropped"] += report.dropped_frames - (last.dropped_frames if last else 0)

    def stats(self) -> dict[str, Any]:
        """Counts and histograms (bounds, counts, sum) for /metrics."""
        return {
            "outcomes": dict(self._outcomes),
            "greeting_ms": _data(self._greeting_ms),
            "turn_ms": _data(self._turn_ms),
            "turn_model_ms": _data(self._turn_model_ms),
            "turn_heard_ms": _data(self._turn_heard_ms),
            "inbound_latency_us": _data(self._inbound),
            "outbound_latency_us": _data(self._outbound),
            "tool_ms": [(tool, status, *_data(h)) for (tool, status), h in self._tool_ms.items()],
            "fillers": dict(self._fillers),
            "guardrails": dict(self._guardrails),
            "barge_ins": self._barge_ins,
            "model_errors": self._model_errors,
            "frames": dict(self._frames),
        }
