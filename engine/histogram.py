"""A fixed-bucket latency histogram small enough to live in every call actor. Pure.

Call actors count into these locally (no Ray call, no Prometheus import per process) and hand
the counts and their sum over when the call ends; the metrics endpoint turns them into Prometheus
histograms.
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass, field

# Upper bounds in microseconds; the last bucket is +Inf.
LATENCY_BUCKETS_US: tuple[int, ...] = (50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 50_000)


@dataclass(slots=True)
class Histogram:
    bounds: tuple[int, ...] = LATENCY_BUCKETS_US
    counts: list[int] = field(default_factory=lambda: [0] * (len(LATENCY_BUCKETS_US) + 1))
    total: int = 0
    sum: float = 0.0

    @classmethod
    def with_bounds(cls, bounds: tuple[int, ...]) -> Histogram:
        """An empty histogram over `bounds` (upper bounds; the last bucket is +Inf)."""
        return cls(bounds=bounds, counts=[0] * (len(bounds) + 1))

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1
        self.total += 1
        self.sum += value

    def merge(self, counts: tuple[int, ...] | list[int], sum_value: float) -> None:
        """Add another histogram's bucket counts and the sum of its observations (a
        Prometheus histogram's `_sum`, which the counts alone cannot give back)."""
        if len(counts) != len(self.counts):
            raise ValueError("histogram bucket layouts differ")
        for i, n in enumerate(counts):
            self.counts[i] += n
        self.total += sum(counts)
        self.sum += sum_value

    def quantile(self, q: float) -> float:
        """Upper bound of the bucket holding quantile q (inf when it is the overflow bucket)."""
        if self.total == 0:
            return 0.0
        rank = q * self.total
        seen = 0
        for i, n in enumerate(self.counts):
            seen += n
            if seen >= rank and n:
                return float(self.bounds[i]) if i < len(self.bounds) else float("inf")
        return float("inf")
