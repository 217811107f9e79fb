"""Shared pieces of the caller-memory tests: tenants, tokens, scripted calls, and a MemoryActor
wired to the shipped OpenAI HTTP simulator (real `openai` SDK, real Postgres)."""

from __future__ import annotations

import asyncio
import tempfile
import uuid
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from actors.memory_actor import MemoryActor
from engine.config import EngineConfig
from engine.sim.openai_http import OpenAIHttpSimulator
from engine.tokens import MEMORY_AUDIENCE, KeyRing, mint
from memory import tenants
from memory.call_records import CallEnd, CallStart, Turn
from memory.caller_records import JobStatus

SIM_KEY = "sk-sim-memory-tests"
# The outbox queue of writes made straight through memory/ by tests that configure no
# destination: no drain claims it.
UNDRAINED = "tests-undrained"


def sid() -> str:
    return "CA" + uuid.uuid4().hex


def phone() -> str:
    return "+1555" + str(uuid.uuid4().int)[:7]


async def new_tenant(pool: asyncpg.Pool, name: str = "Memory Agency") -> str:
    return await tenants.create_tenant(pool, tenants.NewTenant(name=name, numbers=(phone(),)))


def token(secret: str, tenant_id: str, *, audience: str = MEMORY_AUDIENCE, ttl_s: int = 300) -> str:
    return mint(
        KeyRing.single(secret),
        tenant_id=tenant_id,
        subject="call:test",
        audience=audience,
        ttl_s=ttl_s,
    )


def memory_config(
    app_url: str, secret: str, sim: OpenAIHttpSimulator, **extra: Any
) -> EngineConfig:
    """A config whose LLM and embeddings are the simulator, with a post-call queue and an outbox
    queue of its own (so drain loops of other tests' actors never take this test's jobs or
    deliveries) and fast retries."""
    config = EngineConfig(
        app_database_url=app_url,
        jwt_secret=secret,
        llm_base_url=sim.base_url,
        llm_api_key=SIM_KEY,
        embedding_provider="openai",
        post_call_queue="test-" + uuid.uuid4().hex[:12],
        outbox_queue="test-" + uuid.uuid4().hex[:12],
        post_call_backoff_s=0.05,
        post_call_poll_s=0.05,
        spool_dir=tempfile.mkdtemp(prefix="neurosphere-spool-"),
    )
    return replace(config, **extra)


def script(lines: Sequence[tuple[str, str]], *, start: int = 0) -> list[Turn]:
    """Turns from (role, text) pairs, one second apart."""
    t0 = datetime.now(UTC)
    return [
        Turn(seq=start + i, role=role, text=text, at=t0 + timedelta(seconds=i))  # type: ignore[arg-type]
        for i, (role, text) in enumerate(lines)
    ]


async def record_call(
    actor: MemoryActor,
    tok: str,
    caller_number: str,
    lines: Sequence[tuple[str, str]],
    *,
    call_sid: str | None = None,
) -> str:
    """A finished call with its transcript in Postgres, as the call actor leaves it."""
    call_sid = call_sid or sid()
    await actor.start_call(tok, CallStart(call_sid, caller_number, "+15550000000"))
    await actor.append_turns(tok, call_sid, script(lines))
    await actor.finish_call(tok, call_sid, CallEnd("caller_hung_up", duration_ms=60_000))
    return call_sid


async def wait_job(
    actor: MemoryActor,
    tok: str,
    call_sid: str,
    *,
    until: Sequence[str] = ("done", "failed"),
    timeout: float = 20.0,
) -> JobStatus:
    """Poll the job until it reaches one of ``until``."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        status = await actor.post_call_status(tok, call_sid)
        if status is not None and status.status in until:
            return status
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"job did not reach {until}: {status}")
        await asyncio.sleep(0.05)


async def count(pool: asyncpg.Pool, tenant_id: str, sql: str, *args: object) -> int:
    from memory.db import tenant_tx

    async with tenant_tx(pool, tenant_id) as conn:
        value = await conn.fetchval(sql, *args)
    return int(value)


__all__ = [
    "SIM_KEY",
    "count",
    "memory_config",
    "new_tenant",
    "phone",
    "record_call",
    "script",
    "sid",
    "token",
    "wait_job",
]
