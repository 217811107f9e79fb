"""Latency and failures of the memory actor's queries on the call path, counted where they
run (no Prometheus import, no Ray call per query) and handed over whole when /metrics asks.
Pure: the clock is read with time.perf_counter, nothing is sent anywhere from here."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from engine.histogram import Histogram

QUERY_BUCKETS_MS: tuple[int, ...] = (1, 2, 5, 10, 20, 50, 100, 250, 1000, 5000)


class QueryMetrics:
    def __init__(self) -> None:
        self._ms: dict[str, Histogram] = {}
        self._errors: Counter[str] = Counter()

    @contextmanager
    def measure(self, query: str) -> Iterator[None]:
        """Time the block as one `query`; one that raises counts as an error too."""
        began = time.perf_counter()
        try:
            yield
        except BaseException:
            self._errors[query] += 1
            raise
        finally:
            histogram = self._ms.get(query)
            if histogram is None:
                histogram = self._ms[query] = Histogram(
                    bounds=QUERY_BUCKETS_MS, counts=[0] * (len(QUERY_BUCKETS_MS) + 1)
                )
            histogram.observe((time.perf_counter() - began) * 1000)

    def snapshot(self) -> dict[str, Any]:
        """{"latency_ms": {query: (bounds, counts, sum)}, "errors": {query: n}}."""
        return {
            "latency_ms": {q: (h.bounds, list(h.counts), h.sum) for q, h in self._ms.items()},
            "errors": dict(self._errors),
        }


def merge(snapshots: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Several actors' snapshots as one."""
    latency: dict[str, Histogram] = {}
    errors: Counter[str] = Counter()
    for snapshot in snapshots:
        for query, (bounds, counts, total) in snapshot["latency_ms"].items():
            histogram = latency.setdefault(
                query, Histogram(bounds=tuple(bounds), counts=[0] * len(counts))
            )
            histogram.merge(counts, total)
        errors.update(snapshot["errors"])
    return {
        "latency_ms": {q: (h.bounds, list(h.counts), h.sum) for q, h in latency.items()},
        "errors": dict(errors),
    }
