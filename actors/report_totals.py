"""What the call pool sums up from its calls' end-of-call reports, for /metrics: outcomes,
greeting and turn times, the audio path's latencies, frames, and each tool's latency by status
with the fillers spoken for it. Pure: `add` takes a CallReport, `stats` gives plain data.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from actors.ports import CallReport
from engine.call_metrics import TOOL_BUCKETS_MS
from engine.histogram import Histogram

GREETING_BUCKETS_MS = (25, 50, 100, 250, 500, 1000, 2500, 5000)


def _data(histogram: Histogram) -> tuple[tuple[int, ...], list[int], float]:
    return histogram.bounds, list(histogram.counts), histogram.sum


class ReportTotals:
    """The sums of every report added (a pool's calls since it started)."""

    def __init__(self) -> None:
        self._outcomes: Counter[str] = Counter()
        self._greeting_ms = Histogram.with_bounds(GREETING_BUCKETS_MS)
        self._turn_ms = Histogram.with_bounds(GREETING_BUCKETS_MS)
        self._inbound = Histogram()
        self._outbound = Histogram()
        self._tool_ms: dict[tuple[str, str], Histogram] = {}
        self._fillers: Counter[str] = Counter()
        self._barge_ins = 0
        self._model_errors = 0
        self._frames = {"in": 0, "out": 0, "dropped": 0}

    def add(self, report: CallReport) -> None:
        self._outcomes[report.outcome] += 1
        if report.greeting_ms is not None:
            self._greeting_ms.observe(report.greeting_ms)
        for ms in report.turn_ms:
            self._turn_ms.observe(ms)
        if report.inbound_latency_us:
            self._inbound.merge(report.inbound_latency_us, report.inbound_latency_sum_us)
        if report.outbound_latency_us:
            self._outbound.merge(report.outbound_latency_us, report.outbound_latency_sum_us)
        for tool in report.tool_ms:
            key = (tool.tool, tool.status)
            if key not in self._tool_ms:
                self._tool_ms[key] = Histogram.with_bounds(TOOL_BUCKETS_MS)
            self._tool_ms[key].merge(tool.counts, tool.sum_ms)
        for name, n in report.fillers:
            self._fillers[name] += n
        self._barge_ins += report.barge_ins
        self._model_errors += report.model_errors
        self._frames["in"] += report.frames_in
        self._frames["out"] += report.frames_out
        self._frames["dropped"] += report.dropped_frames

    def stats(self) -> dict[str, Any]:
        """Counts and histograms (bounds, counts, sum) for /metrics."""
        return {
            "outcomes": dict(self._outcomes),
            "greeting_ms": _data(self._greeting_ms),
            "turn_ms": _data(self._turn_ms),
            "inbound_latency_us": _data(self._inbound),
            "outbound_latency_us": _data(self._outbound),
            "tool_ms": [(tool, status, *_data(h)) for (tool, status), h in self._tool_ms.items()],
            "fillers": dict(self._fillers),
            "barge_ins": self._barge_ins,
            "model_errors": self._model_errors,
            "frames": dict(self._frames),
        }
