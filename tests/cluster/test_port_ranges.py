"""No two of the cluster tests' fixed port ranges overlap (tests/cluster/ports.py): the
session-long engine's call actors bind random ports of their range, and one of them once took
the image test's published port mid-session."""

from __future__ import annotations

from itertools import combinations

from tests.cluster import ports


def test_fixed_port_ranges_are_disjoint() -> None:
    ranges = ports.RANGES
    assert len(ranges) >= 8
    for (name_a, (low_a, high_a)), (name_b, (low_b, high_b)) in combinations(ranges.items(), 2):
        assert low_a <= high_a, name_a
        assert low_b <= high_b, name_b
        assert high_a < low_b or high_b < low_a, f"{name_a} {low_a}-{high_a} overlaps {name_b}"
