"""The soak benchmark (bench/soak.py) in short form, against the session's engine on real Ray:
rounds of calls, each ending in a hang-up of all of them, with every engine process read after
each round. A call leaves nothing behind: the call actors and the control-plane actors that
served the later rounds hold no more file descriptors (beyond Ray's connections between its
processes) or threads after the last round than after the one before (a socket or a task kept
per call would show here); every call of every round is in Postgres with its outcome, end and
turns; and `/metrics` counted as many claims and ended calls as were placed. The first round
fills what is pooled and kept by high-water mark, not by call: the webhook's database pool and
the callers' keep-alive connections to it. The long run (100 calls, 10 minutes) is
`python -m bench soak`."""

from __future__ import annotations

import asyncio
import os
import uuid

import asyncpg
import pytest

from bench.load_spec import Behaviour, TargetSpec
from bench.loadgen import LoadGenerator
from bench.soak_checks import counted, postgres_check
from bench.soak_footprint import Footprint, growth
from engine.cli.runtime import Engine
from engine.secret_box import TWILIO_LABEL, SecretBox
from memory import tenants

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(300)]

TOKEN = "soak-short-auth-token"
CALLS = 4
ROUNDS = 3  # the first fills the pools; the last is compared with the one before
HOLD_S = 5.0
ENGINE_ROLES = ("call actors", "control actors", "serve")


async def test_calls_leave_no_descriptor_thread_or_record_behind(
    ray_engine: Engine, app_pool: asyncpg.Pool
) -> None:
    number = "+1555" + str(uuid.uuid4().int)[:7]
    await tenants.create_tenant(
        app_pool,
        tenants.NewTenant(
            name="Soak Agency", numbers=(number,), twilio_auth_token=TOKEN,
            max_concurrent_calls=CALLS,
        ),
        tokens=SecretBox(ray_engine.config.jwt_secret, TWILIO_LABEL),
    )  # fmt: skip
    await asyncio.to_thread(ray_engine.warm_tenants)
    metrics = ray_engine.webhook_base + "/metrics"
    before = await asyncio.to_thread(counted, metrics)
    footprint = Footprint(os.getpid())
    gen = LoadGenerator(
        TargetSpec(
            webhook_base=ray_engine.webhook_base,
            public_base_url=ray_engine.config.public_base_url,
            auth_token=TOKEN,
            to_numbers=(number,),
        ),
        Behaviour(barge_in_probability=0.3),
        seed=11,
    )
    read_at: list[float] = []
    try:
        for _ in range(ROUNDS):
            grow = await gen.grow(CALLS, rate=4.0, settle_timeout=30.0)
            assert (grow.live, grow.failed, grow.refused) == (CALLS, 0, 0), grow.errors
            await asyncio.sleep(HOLD_S)
            assert await gen.hangup_all(20.0) == 0
            await asyncio.sleep(3.0)  # the calls' ends and post-call work land
            assert await asyncio.to_thread(footprint.sample) > 0
            read_at.append(max(s.t[-1] for s in footprint.series.values()))
        sids = [s.call_sid for s in gen.records().streams]
    finally:
        await gen.close()
    after = await asyncio.to_thread(counted, metrics)

    assert len(sids) == CALLS * ROUNDS
    found = await postgres_check(ray_engine.database.app_url, (number,), sids)
    assert (found["rows"], found["with_outcome"], found["with_end"]) == (len(sids),) * 3, found
    assert found["without_turns"] == 0, found
    assert found["turns"].get("agent", 0) >= len(sids), found  # a greeting each, at least
    gained = {k: after[k] - before[k] for k in after}
    assert gained == {
        "neurosphere_call_claim_seconds_count": len(sids),
        "neurosphere_calls_ended_total": len(sids),
    }, gained

    roles = growth(footprint.series.values(), read_at[-2], read_at[-1], every=1.0)
    assert set(ENGINE_ROLES) <= set(roles), roles
    for role in ENGINE_ROLES:
        grew = roles[role]
        # Ray's connections to other Ray processes follow the workers alive (a call actor started
        # in a round adds one to each process that called it), not the calls.
        own_first = grew["fds_first"] - grew["ray_links_first"]
        own_last = grew["fds_last"] - grew["ray_links_last"]
        assert own_last <= own_first + grew["processes"], (role, grew)
        assert grew["threads_last"] <= grew["threads_first"] + grew["processes"], (role, grew)
