"""The Grafana dashboard and the Prometheus alert rules in deploy/monitoring/ use only metrics
/metrics exports (the ingress's registry, the call pool's and memory actors' measurements, the
queue depths), under their exported names; the alerts an on-call engineer needs are there."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml
from prometheus_client import CollectorRegistry, generate_latest

from actors.call_pool import CallPool
from actors.ports import CallReport, ToolLatency
from admin_api.context import WebhookMetrics
from admin_api.ops import PoolCollector, QueueCollector
from engine.query_metrics import QueryMetrics
from memory.queues import QueueDepth
from tests.unit.test_call_pool import CONFIG, FakeFactory, _setup

MONITORING = Path(__file__).resolve().parents[2] / "deploy" / "monitoring"
METRIC = re.compile(r"\bneurosphere_[a-z_]+")


async def _exported() -> set[str]:
    metrics = WebhookMetrics()
    metrics.call_setups.labels("admitted").inc()
    metrics.rejected.labels("/twilio/voice", "bad signature").inc()
    metrics.webhook_seconds.labels("voice").observe(0.01)
    calls = CallPool(CONFIG, FakeFactory())
    tool = ToolLatency("take_message", "timeout", (0,) * 10 + (1,), 12_000.0)
    report = CallReport("CA1", "t-1", "caller_hung_up", tool_ms=(tool,), fillers=(("t", 1),))
    await calls.call_ended(report)
    await calls.claim(_setup("CA2"))
    queries = QueryMetrics()
    with queries.measure("caller_context"):
        pass
    stats = await calls.stats()
    stats["memory_queries"] = {**queries.snapshot(), "errors": {"search": 1}}
    pool = CollectorRegistry()
    pool.register(PoolCollector(stats))
    pool.register(QueueCollector([QueueDepth("post_call", "pending", 1)]))
    text = (generate_latest(metrics.registry) + generate_latest(pool)).decode()
    return {line.split("{")[0].split(" ")[0] for line in text.splitlines() if line[:1] != "#"}


def _dashboard_exprs() -> list[str]:
    dashboard = json.loads((MONITORING / "grafana-dashboard.json").read_text())
    return [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]


def _alert_exprs() -> list[str]:
    rules = yaml.safe_load((MONITORING / "alerts.yml").read_text())
    return [str(rule["expr"]) for group in rules["groups"] for rule in group["rules"]]


async def test_dashboard_and_alerts_use_exported_metrics() -> None:
    exported = await _exported()
    exprs = _dashboard_exprs() + _alert_exprs()
    used = {name for expr in exprs for name in METRIC.findall(expr)}
    assert used, "no metric referenced"
    assert sorted(used - exported) == []


def test_alerts_cover_refusals_and_audio() -> None:
    names = {
        rule["alert"]
        for group in yaml.safe_load((MONITORING / "alerts.yml").read_text())["groups"]
        for rule in group["rules"]
    }
    assert {
        "NeuroSphereCallsRefused",
        "NeuroSphereAudioP99High",
        "NeuroSpherePostCallBacklog",
        "NeuroSphereMemoryErrors",
    } <= names
