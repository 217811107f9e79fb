"""Smoke test of the benchmark harness (bench/): a few simulated calls for a few seconds against
the session's engine on real Ray with Serve, measured end to end as `python -m bench` measures
them. The measurements must be present and no audio frame may be lost. A pure companion test
feeds the analysis records with a lost, a late, a duplicated and a reordered frame and two
failed status callbacks, so a harness that stopped seeing them would fail here rather than
report a clean run."""

from __future__ import annotations

import asyncio
import math
import time
import uuid

import asyncpg
import pytest

from bench.analysis import analyse
from bench.load_spec import Behaviour, TargetSpec
from bench.loadgen import LoadGenerator
from bench.records import SessionRecord, StreamRecord
from bench.simproc import session_records
from bench.tags import make_key
from engine.cli.runtime import Engine
from engine.secret_box import TWILIO_LABEL, SecretBox
from memory import tenants

pytestmark = pytest.mark.cluster

TOKEN = "bench-smoke-auth-token"
CALLS = 3
HOLD_S = 4.0


async def test_bench_measures_a_few_calls_on_the_engine(
    ray_engine: Engine, app_pool: asyncpg.Pool
) -> None:
    number = "+1555" + str(uuid.uuid4().int)[:7]
    await tenants.create_tenant(
        app_pool,
        tenants.NewTenant(
            name="Bench Smoke Agency",
            numbers=(number,),
            twilio_auth_token=TOKEN,
            max_concurrent_calls=CALLS,
        ),
        tokens=SecretBox(ray_engine.config.jwt_secret, TWILIO_LABEL),
    )
    await asyncio.to_thread(ray_engine.warm_tenants)
    assert ray_engine.simulator is not None
    sim = ray_engine.simulator.sim
    gen = LoadGenerator(
        TargetSpec(
            webhook_base=ray_engine.webhook_base,
            public_base_url=ray_engine.config.public_base_url,
            auth_token=TOKEN,
            to_numbers=(number,),
        ),
        Behaviour(barge_in_probability=0.0),
        seed=7,
    )
    earlier = len(sim.sessions)  # the session's simulator served other tests' calls before
    try:
        grow = await gen.grow(CALLS, rate=5.0, settle_timeout=30.0)
        assert (grow.live, grow.failed, grow.refused) == (CALLS, 0, 0), grow.errors
        start = time.monotonic()
        await asyncio.sleep(HOLD_S)
        end = time.monotonic()
        assert await gen.hangup_all(20.0) == 0
        dump = gen.records()
    finally:
        await gen.close()
    await asyncio.sleep(0.5)  # the simulator thread has seen the last appends
    sessions = session_records(sim)[earlier:]
    window = analyse(dump.streams, sessions, start, end, callers_lag=dump.lag)
    whole = analyse(dump.streams, sessions, dump.streams[0].placed_at, time.monotonic())

    assert window.concurrent_calls == CALLS
    assert window.unlinked_calls == 0
    inbound = window.inbound
    assert inbound.expected >= CALLS * int(HOLD_S / 0.02) - CALLS * 2
    assert (inbound.matched, inbound.lost, inbound.reordered, inbound.duplicated) == (
        inbound.expected,
        0,
        0,
        0,
    )
    assert inbound.latency_ms is not None
    assert 0 < inbound.latency_ms.p50 <= inbound.latency_ms.p99 <= inbound.latency_ms.max
    assert window.callers_lag_ms is not None
    assert window.send_jitter_ms is not None
    assert len(window.timeline) == math.ceil(end - start)  # a point per second begun
    assert all(p.inbound_p99 is not None for p in window.timeline[: int(HOLD_S)])

    outbound = whole.outbound  # the greetings: audio generated before and after `start`
    assert outbound.matched > 0
    assert (outbound.lost, outbound.reordered) == (0, 0)
    assert whole.inbound.lost == 0
    assert whole.calls == {"ended": CALLS}
    assert whole.callbacks_failed == 0
    assert whole.webhook_ms is not None
    assert whole.webhook_ms.n == CALLS
    assert whole.greeting_ms is not None
    assert whole.greeting_ms.n == CALLS
    assert all(s.closed_by == "caller" and not s.violations for s in dump.streams)


def test_the_analysis_sees_lost_late_duplicated_and_reordered_frames() -> None:
    stream = StreamRecord(index=5, call_sid="CA" + "1" * 32, placed_at=0.0, started_at=1.0)
    stream.callbacks_failed = 2  # two status callbacks answered 503
    for n in range(1, 11):  # frames 1..10 sent every 20 ms from t=1.02
        stream.sent_keys.append(n)
        stream.sent_times.append(1.0 + n * 0.02)
    session = SessionRecord(index=1, opened_at=0.5, first_stream=5)
    arrivals = [1, 2, 4, 3, 5, 6, 6, 8, 9, 10]  # 3/4 swapped, 6 twice, 7 lost
    for n in arrivals:
        session.append_keys.append(make_key(5, n))
        late = 0.1 if n == 9 else 0.001  # frame 9 arrives 100 ms late
        session.append_times.append(1.0 + n * 0.02 + late)
    for i, t in enumerate((1.5, 1.6, 1.7), start=1):  # three deltas; the caller gets two
        session.delta_keys.append(make_key(1, i))
        session.delta_times.append(t)
        session.delta_responses.append(1)
    for i in (1, 3):
        stream.recv_keys.append(make_key(1, i))
        stream.recv_times.append(1.4 + i * 0.1 + 0.002)

    report = analyse([stream], [session], 0.0, 5.0)

    inbound = report.inbound
    assert (inbound.expected, inbound.matched, inbound.lost) == (10, 9, 1)
    assert (inbound.reordered, inbound.duplicated, inbound.late) == (1, 1, 1)
    assert inbound.latency_ms is not None
    assert inbound.latency_ms.max == pytest.approx(100.0, abs=0.01)
    assert (report.outbound.matched, report.outbound.lost) == (2, 1)
    assert report.frames_lost == 2
    assert report.callbacks_failed == 2

    session.speech_started.append(1.55)  # a barge-in cancelled the response before delta 2
    session.cancelled[1] = 1.8
    excused = analyse([stream], [session], 0.0, 5.0).outbound
    assert (excused.lost, excused.excused) == (0, {"after_barge_in": 1})
