"""/metrics from the pool's measurements: the audio histograms keep their `_sum` from the call
actors' reports through the pool to the Prometheus text; each tool's latency is there by tool
and outcome, with the fillers spoken for it."""

from __future__ import annotations

import dataclasses

from prometheus_client import CollectorRegistry, generate_latest

from actors import call_effects
from actors.call_pool import CallPool
from actors.ports import CallReport, CallSetup
from admin_api.ops import PoolCollector
from engine.call_events import Observe
from engine.call_metrics import CallMetrics
from engine.histogram import Histogram
from tests.unit.session_fakes import TENANT, TOKEN, FakeModel
from tests.unit.test_call_pool import CONFIG, FakeFactory

SETUP = CallSetup("CA1", TENANT, "+15550100", "+15550199", TOKEN, "memory-token")


def _sample(text: str, name: str) -> float:
    (line,) = [line for line in text.splitlines() if line.startswith(name + " ")]
    return float(line.split()[1])


async def test_audio_histogram_sums_reach_metrics() -> None:
    pool = CallPool(CONFIG, FakeFactory())
    inbound, outbound = Histogram(), Histogram()
    for us in (120.0, 480.0, 2_400.0):
        inbound.observe(us)
    outbound.observe(900.0)
    for sid in ("CA1", "CA2"):
        await pool.call_ended(
            CallReport(
                sid,
                "t-1",
                "caller_hung_up",
                inbound_latency_us=tuple(inbound.counts),
                outbound_latency_us=tuple(outbound.counts),
                inbound_latency_sum_us=inbound.sum,
                outbound_latency_sum_us=outbound.sum,
            )
        )
    registry = CollectorRegistry()
    registry.register(PoolCollector(await pool.stats()))
    text = generate_latest(registry).decode()
    assert _sample(text, "neurosphere_audio_inbound_seconds_count") == 6
    assert abs(_sample(text, "neurosphere_audio_inbound_seconds_sum") - 2 * 3_000e-6) < 1e-9
    assert abs(_sample(text, "neurosphere_audio_outbound_seconds_sum") - 2 * 900e-6) < 1e-9


async def test_tool_latency_by_tool_and_outcome_and_fillers_reach_metrics() -> None:
    pool = CallPool(CONFIG, FakeFactory())
    metrics = CallMetrics(prepared_at=0.0)
    metrics.tool_ran("take_message", "ok", 1_800.0)
    metrics.tool_ran("take_message", "timeout", 5_004.0)
    metrics.observe(Observe("filler", 1, "take_message"), 1.0)
    link = FakeModel(None, None)  # type: ignore[arg-type]  # only its counters are read
    report = call_effects.report(SETUP, "caller_hung_up", metrics, link)
    for sid in ("CA1", "CA2"):
        await pool.call_ended(dataclasses.replace(report, call_sid=sid))
    registry = CollectorRegistry()
    registry.register(PoolCollector(await pool.stats()))
    text = generate_latest(registry).decode()
    ok = 'neurosphere_tool_seconds_count{outcome="ok",tool="take_message"}'
    assert _sample(text, ok) == 2
    assert abs(_sample(text, ok.replace("_count", "_sum")) - 2 * 1.8) < 1e-9
    bucket = 'neurosphere_tool_seconds_bucket{{le="{}",outcome="ok",tool="take_message"}}'
    assert _sample(text, bucket.format("1.0")) == 0
    assert _sample(text, bucket.format("2.5")) == 2
    assert _sample(text, ok.replace('"ok"', '"timeout"')) == 2
    assert _sample(text, 'neurosphere_tool_fillers_total{tool="take_message"}') == 2
