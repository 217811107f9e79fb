"""The memory actors' query measurements: timed where they run, failures counted, several
actors' merged, and exported by /metrics as one labelled histogram."""

from __future__ import annotations

import time

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from actors.call_pool import CallPool
from admin_api.ops import PoolCollector, QueueCollector
from engine.query_metrics import QueryMetrics, merge
from memory.queues import QueueDepth
from tests.unit.test_call_pool import CONFIG, FakeFactory


def test_queries_are_timed_and_failures_counted() -> None:
    metrics = QueryMetrics()
    with metrics.measure("caller_context"):
        time.sleep(0.012)
    with pytest.raises(TimeoutError), metrics.measure("caller_context"):
        raise TimeoutError
    snapshot = metrics.snapshot()
    bounds, counts, total = snapshot["latency_ms"]["caller_context"]
    assert sum(counts) == 2
    assert total >= 12
    assert sum(counts[bounds.index(20) :]) >= 1  # 12 ms or more: above the 10 ms bucket
    assert snapshot["errors"] == {"caller_context": 1}


async def test_memory_query_latency_and_queue_depths_reach_metrics() -> None:
    one, two = QueryMetrics(), QueryMetrics()
    with one.measure("search"):
        pass
    with two.measure("search"):
        pass
    with pytest.raises(LookupError), two.measure("load_turns"):
        raise LookupError
    stats = await CallPool(CONFIG, FakeFactory()).stats()
    stats["memory_queries"] = merge([one.snapshot(), two.snapshot()])
    registry = CollectorRegistry()
    registry.register(PoolCollector(stats))
    registry.register(QueueCollector([QueueDepth("post_call", "pending", 7)]))
    text = generate_latest(registry).decode()
    assert 'neurosphere_memory_query_seconds_count{query="search"} 2.0' in text
    assert 'neurosphere_memory_query_seconds_bucket{le="0.001",query="search"} 2.0' in text
    assert 'neurosphere_memory_query_errors_total{query="load_turns"} 1.0' in text
    assert 'neurosphere_queue_depth{queue="post_call",state="pending"} 7.0' in text
