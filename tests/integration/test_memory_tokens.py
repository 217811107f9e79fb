"""Every caller-memory method of the MemoryActor refuses a bad token before touching data:
alg none, wrong key, expired, wrong audience, missing tenant_id."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import asyncpg
import jwt
import pytest

from actors.memory_actor import MemoryActor
from engine.sim.openai_http import OpenAIHttpSimulator
from engine.tokens import ADMIN_AUDIENCE, ISSUER, MEMORY_AUDIENCE, TokenError
from memory.caller_records import NewMemory
from tests.conftest import PgUrls
from tests.memory_support import SIM_KEY, count, memory_config, new_tenant, phone, script, token

CALL_SID = "CA" + "1" * 32


def _claims(tenant_id: str | None, **overrides: object) -> dict[str, object]:
    now = int(time.time())
    claims: dict[str, object] = {
        "iss": ISSUER,
        "aud": MEMORY_AUDIENCE,
        "sub": "call:test",
        "tenant_id": tenant_id,
        "iat": now,
        "exp": now + 300,
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def _b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def bad_tokens(secret: str, tenant_id: str) -> dict[str, str]:
    return {
        "alg none": _b64({"alg": "none", "typ": "JWT", "kid": "k1"})
        + "."
        + _b64(_claims(tenant_id))
        + ".",
        "wrong key": jwt.encode(
            _claims(tenant_id), "x" * 48, algorithm="HS256", headers={"kid": "k1"}
        ),
        "expired": token(secret, tenant_id, ttl_s=-60),
        "wrong audience": token(secret, tenant_id, audience=ADMIN_AUDIENCE),
        "missing tenant_id": jwt.encode(
            _claims(None), secret, algorithm="HS256", headers={"kid": "k1"}
        ),
    }


Call = Callable[[MemoryActor, str, str], Awaitable[Any]]
CALLS: dict[str, Call] = {
    "caller_context": lambda a, t, n: a.caller_context(t, n, agenda="claims"),
    "remember": lambda a, t, n: a.remember(t, NewMemory(n, CALL_SID, "note", "gate code", "4512")),
    "consolidate": lambda a, t, n: a.consolidate(
        t, n, CALL_SID, script([("caller", "My wife Sarah")])
    ),
    "enqueue_post_call": lambda a, t, n: a.enqueue_post_call(t, CALL_SID, n),
    "search": lambda a, t, n: a.search(t, n, "gate code"),
    "forget_caller": lambda a, t, n: a.forget_caller(t, n),
    "post_call_status": lambda a, t, n: a.post_call_status(t, CALL_SID),
    "save_knowledge": lambda a, t, n: a.save_knowledge(t, "fact", "Hours", "9 to 5"),
}


@pytest.fixture(scope="module")
async def sim() -> AsyncIterator[OpenAIHttpSimulator]:
    async with OpenAIHttpSimulator(api_keys={SIM_KEY}) as server:
        yield server


@pytest.fixture(scope="module")
async def actor(
    pg_urls: PgUrls, jwt_secret: str, sim: OpenAIHttpSimulator
) -> AsyncIterator[MemoryActor]:
    memory = MemoryActor(memory_config(pg_urls.app, jwt_secret, sim))
    yield memory
    await memory.close()


@pytest.mark.parametrize("method", sorted(CALLS))
async def test_bad_tokens_are_refused(
    method: str,
    actor: MemoryActor,
    app_pool: asyncpg.Pool,
    jwt_secret: str,
    sim: OpenAIHttpSimulator,
) -> None:
    tenant = await new_tenant(app_pool)
    caller = phone()
    before = len(sim.requests)
    tokens = bad_tokens(jwt_secret, tenant)
    refused = []
    for why, bad in tokens.items():
        try:
            await CALLS[method](actor, bad, caller)
        except TokenError:
            refused.append(why)
    assert refused == list(tokens)
    assert len(sim.requests) == before  # no model or embedding call on a refused token
    for table in ("memories", "post_call_jobs", "knowledge_entries", "memory_consolidations"):
        assert await count(app_pool, tenant, f"SELECT count(*) FROM {table}") == 0  # noqa: S608
    await CALLS[method](actor, token(jwt_secret, tenant), caller)  # the good token works
