"""/metrics from the pool's measurements: the audio histograms keep their `_sum` from the call
actors' reports through the pool to the Prometheus text; each tool's latency is there by tool
and outcome, with the fillers spoken for it; a live call's measurements count while it lasts
(each only once); active calls per tenant."""

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
from tests.unit.test_call_pool import CONFIG, FakeFactory, _setup

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


async def test_answers_cut_by_the_guard_rail_reach_metrics_by_kind_once() -> None:
    pool = CallPool(CONFIG, FakeFactory())
    metrics = CallMetrics(prepared_at=0.0)
    metrics.observe(Observe("guardrail", 1, "quote"), 1.0)
    link = FakeModel(None, None)  # type: ignore[arg-type]  # only its counters are read
    live = call_effects.report(SETUP, "live", metrics, link)
    await pool.calls_live([live])
    metrics.observe(Observe("guardrail", 1, "quote"), 2.0)
    metrics.observe(Observe("guardrail", 1, "binding"), 3.0)
    await pool.call_ended(call_effects.report(SETUP, "caller_hung_up", metrics, link))
    registry = CollectorRegistry()
    registry.register(PoolCollector(await pool.stats()))
    text = generate_latest(registry).decode()
    assert _sample(text, 'neurosphere_guardrail_cuts_total{kind="quote"}') == 2
    assert _sample(text, 'neurosphere_guardrail_cuts_total{kind="binding"}') == 1


def _live(sid: str, frames: int, turns: tuple[float, ...], inbound: Histogram) -> CallReport:
    return CallReport(
        sid,
        "t-1",
        "live",
        greeting_ms=80.0,
        turn_ms=turns,
        barge_ins=len(turns),
        frames_in=frames,
        frames_out=frames,
        inbound_latency_us=tuple(inbound.counts),
        inbound_latency_sum_us=inbound.sum,
    )


async def test_a_live_call_is_counted_while_it_lasts_and_once_in_all() -> None:
    pool = CallPool(CONFIG, FakeFactory())
    await pool.claim(_setup("CA1"))
    inbound = Histogram()
    inbound.observe(100.0)
    await pool.calls_live([_live("CA1", 50, (300.0,), inbound)])
    stats = await pool.stats()
    assert stats["frames"]["in"] == 50
    assert sum(stats["turn_ms"][1]) == 1
    assert sum(stats["greeting_ms"][1]) == 1
    assert sum(stats["inbound_latency_us"][1]) == 1
    assert stats["barge_ins"] == 1
    assert stats["active_by_tenant"] == {("t-1", "Agency"): 1}

    inbound.observe(200.0)  # the same call, a few seconds on: cumulative again
    await pool.calls_live([_live("CA1", 120, (300.0, 400.0), inbound)])
    stats = await pool.stats()
    assert stats["frames"]["in"] == 120
    assert sum(stats["turn_ms"][1]) == 2
    assert sum(stats["greeting_ms"][1]) == 1  # once per call
    assert sum(stats["inbound_latency_us"][1]) == 2
    assert stats["inbound_latency_us"][2] == 300.0

    inbound.observe(50.0)
    final = _live("CA1", 200, (300.0, 400.0, 500.0), inbound)
    await pool.call_ended(dataclasses.replace(final, outcome="caller_hung_up"))
    await pool.calls_live([_live("CA1", 999, (1.0,) * 9, inbound)])  # late: the call is over
    stats = await pool.stats()
    assert stats["frames"]["in"] == 200
    assert sum(stats["turn_ms"][1]) == 3
    assert sum(stats["inbound_latency_us"][1]) == 3
    assert stats["inbound_latency_us"][2] == 350.0
    assert stats["barge_ins"] == 3
    assert stats["outcomes"] == {"caller_hung_up": 1}
    assert stats["active_by_tenant"] == {}


async def test_a_resumed_call_s_new_session_counts_from_zero() -> None:
    pool = CallPool(CONFIG, FakeFactory())
    await pool.claim(_setup("CA1"))
    await pool.calls_live([_live("CA1", 500, (300.0,), Histogram())])
    await pool.claim(_setup("CA1", attempt=1))  # its actor died; a new session resumes it
    await pool.calls_live([_live("CA1", 40, (), Histogram())])
    assert (await pool.stats())["frames"]["in"] == 540


async def test_per_tenant_active_calls_and_live_counts_reach_metrics() -> None:
    pool = CallPool(CONFIG, FakeFactory())
    await pool.claim(_setup("CA1"))
    await pool.claim(_setup("CA2"))
    registry = CollectorRegistry()
    registry.register(PoolCollector(await pool.stats()))
    text = generate_latest(registry).decode()
    assert 'neurosphere_tenant_active_calls{tenant="Agency",tenant_id="t-1"} 2.0' in text


async def test_every_stage_of_an_answers_latency_reaches_metrics() -> None:
    """Caller stops -> the model's first output -> first audio sent -> first audio heard: each
    stage is a histogram, counted once per answer while the call lasts and after it ends."""
    pool = CallPool(CONFIG, FakeFactory())
    await pool.claim(_setup("CA1"))
    live = dataclasses.replace(
        _live("CA1", 50, (460.0,), Histogram()), turn_model_ms=(300.0,), turn_heard_ms=(480.0,)
    )
    await pool.calls_live([live])
    final = dataclasses.replace(
        live,
        outcome="caller_hung_up",
        frames_in=90,
        turn_ms=(460.0, 700.0),
        turn_model_ms=(300.0, 450.0),
        turn_heard_ms=(480.0, 720.0),
    )
    await pool.call_ended(final)
    registry = CollectorRegistry()
    registry.register(PoolCollector(await pool.stats()))
    text = generate_latest(registry).decode()
    for name, total in (
        ("neurosphere_turn_model_seconds", 0.75),
        ("neurosphere_model_turn_seconds", 1.16),
        ("neurosphere_turn_heard_seconds", 1.2),
    ):
        assert _sample(text, name + "_count") == 2
        assert abs(_sample(text, name + "_sum") - total) < 1e-9
