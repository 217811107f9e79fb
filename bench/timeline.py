"""A window's latencies over time: p99 per second in both directions and the simulator's lag,
and the split by whether a call actor was starting when a frame was sent; the quantile of
a fixed-bucket histogram. Pure (numpy).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from bench.records import LagRecord
from bench.window_report import STARTING_S, StartSplit, Summary, TimelinePoint


def _p99(values: np.ndarray[Any, Any]) -> float | None:
    return round(float(np.percentile(values, 99)), 3) if values.size else None


def per_second(
    start: float,
    end: float,
    inbound: tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]],
    outbound: tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]],
    simulator_lag: LagRecord | None,
    step: float = 1.0,
) -> list[TimelinePoint]:
    """p99 per `step` seconds of the window, by the time frames were sent."""
    if not np.isfinite(end) or end <= start:
        return []
    lag: tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]] = (np.empty(0), np.empty(0))
    if simulator_lag is not None:
        lag = (
            np.frombuffer(simulator_lag.times, dtype=np.float64),
            np.frombuffer(simulator_lag.lags, dtype=np.float64) * 1000.0,
        )
    edges = np.arange(start, end + step, step)
    series = []
    for times, values in (inbound, outbound, lag):
        order = np.argsort(times, kind="stable")
        series.append((values[order], np.searchsorted(times[order], edges)))

    def p99(k: int, i: int) -> float | None:
        values, cut = series[k]
        return _p99(values[cut[i] : cut[i + 1]])

    return [
        TimelinePoint(round(float(edges[i] - start), 3), p99(0, i), p99(1, i), p99(2, i))
        for i in range(len(edges) - 1)
    ]


def start_split(
    start: float,
    end: float,
    starts: Sequence[float],
    in_t: np.ndarray[Any, Any],
    in_ms: np.ndarray[Any, Any],
    out_t: np.ndarray[Any, Any],
    out_ms: np.ndarray[Any, Any],
) -> StartSplit:
    spans = [(s, s + STARTING_S) for s in sorted(starts) if s < end and s + STARTING_S > start]

    def starting(times: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        mask = np.zeros(times.shape, dtype=bool)
        for a, b in spans:
            mask |= (times >= a) & (times < b)
        return mask

    covered = 0.0
    last = start
    for a, b in spans:
        a, b = max(a, last, start), min(b, end)
        if b > a:
            covered += b - a
            last = b
    m_in, m_out = starting(in_t), starting(out_t)
    return StartSplit(
        starts=len(spans),
        starting_s=round(covered, 2),
        inbound_starting=Summary.of(in_ms[m_in]),
        inbound_apart=Summary.of(in_ms[~m_in]),
        outbound_starting=Summary.of(out_ms[m_out]),
        outbound_apart=Summary.of(out_ms[~m_out]),
    )


def histogram_quantile(bounds: Sequence[float], counts: Sequence[int], q: float) -> float | None:
    """Upper bound of the bucket holding quantile `q` of a fixed-bucket histogram."""
    total = sum(counts)
    if total == 0:
        return None
    rank, seen = q * total, 0
    for i, n in enumerate(counts):
        seen += n
        if seen >= rank and n:
            return float(bounds[i]) if i < len(bounds) else float("inf")
    return float("inf")
