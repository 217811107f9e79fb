"""Operator endpoints: GET /healthz and GET /metrics (Prometheus text: the ingress's own
registry, the call pool's and memory actors' measurements, the durable queues' depths)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import structlog
from fastapi import APIRouter, Response
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
)
from prometheus_client.registry import Collector

from admin_api.webhooks import Ctx
from memory import queues
from memory.queues import QueueDepth

log = structlog.get_logger(__name__)

router = APIRouter(tags=["ops"])


@router.get("/healthz")
async def healthz(ctx: Ctx) -> Response:
    checks: dict[str, str] = {}
    try:
        pool = await ctx.db()
        async with pool.acquire(timeout=2) as conn:
            await asyncio.wait_for(conn.fetchval("SELECT 1"), 2)
        checks["database"] = "ok"
    except Exception as exc:
        checks["database"] = f"error: {type(exc).__name__}"
    try:
        stats = await asyncio.wait_for(ctx.gateway.pool_stats(), 3)
        checks["call_pool"] = f"ok warm={stats['warm']} active={stats['active']}"
    except Exception as exc:
        checks["call_pool"] = f"error: {type(exc).__name__}"
    healthy = all(v.startswith("ok") for v in checks.values())
    import json

    return Response(
        content=json.dumps({"status": "ok" if healthy else "degraded", "checks": checks}),
        media_type="application/json",
        status_code=200 if healthy else 503,
    )


def _buckets(bounds: Any, counts: Any, scale: float) -> list[tuple[str, float]]:
    """Cumulative Prometheus buckets from per-bucket counts (the last is +Inf)."""
    buckets: list[tuple[str, float]] = []
    running = 0
    for bound, count in zip([*bounds, float("inf")], counts, strict=True):
        running += count
        buckets.append(("+Inf" if bound == float("inf") else str(bound * scale), running))
    return buckets


def _histogram(name: str, doc: str, data: Any, scale: float) -> HistogramMetricFamily:
    bounds, counts, total = data
    return HistogramMetricFamily(
        name, doc, buckets=_buckets(bounds, counts, scale), sum_value=total * scale
    )


def _tool_metrics(s: dict[str, Any]) -> Iterator[Any]:
    latency = HistogramMetricFamily(
        "neurosphere_tool_seconds",
        "A tool call, the model's request arriving to its result ready, by tool and outcome",
        labels=["tool", "outcome"],  # outcome: ok, error or timeout (engine.tools.ToolStatus)
    )
    for tool, status, bounds, counts, total in s["tool_ms"]:
        latency.add_metric([tool, status], _buckets(bounds, counts, 0.001), sum_value=total * 0.001)
    yield latency
    fillers = CounterMetricFamily(
        "neurosphere_tool_fillers", "Filler lines spoken while a tool ran", labels=["tool"]
    )
    for tool, n in s["fillers"].items():
        fillers.add_metric([tool], n)
    yield fillers


class PoolCollector(Collector):
    """Exports the call pool's aggregated call measurements."""

    def __init__(self, stats: dict[str, Any]) -> None:
        self._stats = stats

    def collect(self) -> Iterator[Any]:
        s = self._stats
        active = GaugeMetricFamily("neurosphere_active_calls", "Calls in progress")
        active.add_metric([], s["active"])
        yield active
        tenants = GaugeMetricFamily(
            "neurosphere_tenant_active_calls",
            "Calls in progress per tenant",
            labels=["tenant_id", "tenant"],
        )
        for (tenant_id, name), n in s.get("active_by_tenant", {}).items():
            tenants.add_metric([tenant_id, name], n)
        yield tenants
        warm = GaugeMetricFamily("neurosphere_warm_call_actors", "Warm call actors ready")
        warm.add_metric([], s["warm"])
        yield warm
        ended = CounterMetricFamily("neurosphere_calls_ended", "Calls ended", labels=["outcome"])
        for outcome, n in s["outcomes"].items():
            ended.add_metric([outcome], n)
        yield ended
        cuts = CounterMetricFamily(
            "neurosphere_guardrail_cuts",
            "Answers cut by the engine for a quote, coverage advice or binding",
            labels=["kind"],  # engine.advice_guard.KINDS
        )
        for kind, n in s.get("guardrails", {}).items():
            cuts.add_metric([kind], n)
        yield cuts
        barge = CounterMetricFamily("neurosphere_barge_ins", "Caller interruptions")
        barge.add_metric([], s["barge_ins"])
        yield barge
        errors = CounterMetricFamily("neurosphere_model_errors", "Realtime model errors")
        errors.add_metric([], s["model_errors"])
        yield errors
        yield _histogram(
            "neurosphere_call_claim_seconds", "Claiming a call actor", s["claim_ms"], 0.001
        )
        yield _histogram(
            "neurosphere_greeting_seconds",
            "Stream start to first greeting audio",
            s["greeting_ms"],
            0.001,
        )
        yield _histogram(
            "neurosphere_turn_model_seconds",
            "Caller stops speaking to the model's first text or audio",
            s["turn_model_ms"],
            0.001,
        )
        yield _histogram(
            "neurosphere_model_turn_seconds",
            "Caller stops speaking to first agent audio",
            s["turn_ms"],
            0.001,
        )
        yield _histogram(
            "neurosphere_turn_heard_seconds",
            "Caller stops speaking to first agent audio heard (Twilio's mark)",
            s["turn_heard_ms"],
            0.001,
        )
        yield _histogram(
            "neurosphere_audio_inbound_seconds",
            "Engine time, caller frame to model",
            s["inbound_latency_us"],
            1e-6,
        )
        yield _histogram(
            "neurosphere_audio_outbound_seconds",
            "Engine time, model delta to caller",
            s["outbound_latency_us"],
            1e-6,
        )
        yield from _tool_metrics(s)
        queries = s.get("memory_queries", {"latency_ms": {}, "errors": {}})
        latency = HistogramMetricFamily(
            "neurosphere_memory_query_seconds",
            "Memory actor queries on the call path",
            labels=["query"],
        )
        for query, (bounds, counts, total) in queries["latency_ms"].items():
            latency.add_metric([query], _buckets(bounds, counts, 0.001), total * 0.001)
        yield latency
        failed = CounterMetricFamily(
            "neurosphere_memory_query_errors", "Memory actor queries that failed", labels=["query"]
        )
        for query, n in queries["errors"].items():
            failed.add_metric([query], n)
        yield failed


class QueueCollector(Collector):
    """Exports how much durable work waits (and failed): post-call jobs, outbox deliveries."""

    def __init__(self, found: list[QueueDepth]) -> None:
        self._found = found

    def collect(self) -> Iterator[Any]:
        depth = GaugeMetricFamily(
            "neurosphere_queue_depth",
            "Post-call jobs and outbox deliveries by state (failed and dead: given up)",
            labels=["queue", "state"],
        )
        for d in self._found:
            depth.add_metric([d.queue, d.state], d.n)
        yield depth


@router.get("/metrics")
async def metrics(ctx: Ctx) -> Response:
    text = generate_latest(ctx.metrics.registry)
    try:
        stats = await asyncio.wait_for(ctx.gateway.pool_stats(), 3)
    except Exception:
        stats = None
    registry = CollectorRegistry()
    if stats is not None:
        registry.register(PoolCollector(stats))
    try:
        registry.register(QueueCollector(await queues.depths(await ctx.db())))
    except Exception as exc:  # the database is down: the rest is still worth reading
        log.warning("queue_depths_unavailable", error=repr(exc))
    text += generate_latest(registry)
    return Response(content=text, media_type="text/plain; version=0.0.4; charset=utf-8")
