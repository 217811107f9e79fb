"""/metrics from the pool's measurements: the audio histograms keep their `_sum` from the call
actors' reports through the pool to the Prometheus text."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest

from actors.call_pool import CallPool
from actors.ports import CallReport
from admin_api.ops import PoolCollector
from engine.histogram import Histogram
from tests.unit.test_call_pool import CONFIG, FakeFactory


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
