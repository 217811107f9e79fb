"""The fixed-bucket latency histogram: bucket edges, merging, quantiles."""

from __future__ import annotations

import math

import pytest

from engine.histogram import LATENCY_BUCKETS_US, Histogram


def test_empty() -> None:
    h = Histogram()
    assert h.counts == [0] * 10
    assert (h.total, h.sum) == (0, 0.0)
    assert h.quantile(0.5) == 0.0


def test_bounds_are_inclusive_upper_edges() -> None:
    # Prometheus `le` semantics: a value equal to a bound falls in that bound's bucket.
    h = Histogram()
    for value in (0, 50, 50.5, 100, 10_000, 50_000, 50_001, 10**9):
        h.observe(value)
    assert h.counts == [2, 2, 0, 0, 0, 0, 0, 1, 1, 2]
    assert h.total == 8
    assert h.sum == 0 + 50 + 50.5 + 100 + 10_000 + 50_000 + 50_001 + 10**9


def test_default_counts_are_not_shared() -> None:
    a, b = Histogram(), Histogram()
    a.observe(1)
    assert b.counts == [0] * 10


def test_custom_bounds() -> None:
    h = Histogram(bounds=(10, 20), counts=[0, 0, 0])
    for value in (5, 10, 15, 25, 30):
        h.observe(value)
    assert h.counts == [2, 1, 2]
    assert h.quantile(0.4) == 10.0
    assert h.quantile(0.6) == 20.0
    assert math.isinf(h.quantile(0.99))


def test_merge_adds_counts_total_and_sum() -> None:
    h = Histogram()
    h.observe(75)
    other = Histogram()
    for value in (10, 60, 70_000):
        other.observe(value)
    h.merge(other.counts, other.sum)
    h.merge([0, 1, 0, 0, 0, 0, 0, 0, 0, 0], 80.0)
    assert h.counts == [1, 3, 0, 0, 0, 0, 0, 0, 0, 1]
    assert h.total == 5
    assert h.sum == 75 + 10 + 60 + 70_000 + 80


def test_merge_refuses_another_layout() -> None:
    h = Histogram()
    with pytest.raises(ValueError, match="layouts differ"):
        h.merge([1, 2, 3], 6.0)
    assert h.total == 0


def test_quantiles() -> None:
    h = Histogram()
    for value in [40] * 50 + [90] * 40 + [4_000] * 9 + [60_000]:
        h.observe(value)
    assert h.quantile(0.0) == 50.0
    assert h.quantile(0.5) == 50.0
    assert h.quantile(0.51) == 100.0
    assert h.quantile(0.9) == 100.0
    assert h.quantile(0.95) == 5_000.0
    assert h.quantile(0.99) == 5_000.0
    assert h.quantile(1.0) == math.inf


def test_quantile_skips_empty_buckets() -> None:
    h = Histogram()
    h.observe(700)
    assert h.quantile(0.0) == 1_000.0
    assert h.quantile(1.0) == 1_000.0


def test_bucket_layout() -> None:
    assert list(LATENCY_BUCKETS_US) == sorted(LATENCY_BUCKETS_US)
    assert len(set(LATENCY_BUCKETS_US)) == len(LATENCY_BUCKETS_US)
