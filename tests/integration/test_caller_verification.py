"""Caller verification against real Postgres: identifiers on file, attempts decided and recorded
in one transaction, limits that hold across calls, nothing readable by another tenant."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from engine.verification import VerificationError, VerificationPolicy
from memory import audit, tenants
from memory.caller_memory import forget_caller
from memory.db import tenant_tx
from memory.verification import fields_on_file, set_identifiers, verified_on_call, verify
from tests.memory_support import new_tenant, phone, sid

POLICY = VerificationPolicy(fields=("date_of_birth", "zip_code"), matches_needed=2)
ADMIN = audit.Actor(user_id=None, email="admin@example.com")
NOW = datetime(2026, 12, 4, 19, 0, tzinfo=UTC)
RIGHT = {"date_of_birth": "March 4, 1980", "zip_code": "94110"}
WRONG = {"date_of_birth": "March 5, 1980", "zip_code": "94110"}


async def _caller_on_file(pool: asyncpg.Pool) -> tuple[str, str]:
    tenant_id = await new_tenant(pool, "Verify Agency")
    caller = phone()
    on_file = await set_identifiers(
        pool,
        tenant_id,
        caller,
        {"date_of_birth": "1980-03-04", "zip_code": "94110-0001"},
        actor=ADMIN,
    )
    assert on_file == ("date_of_birth", "zip_code")
    return tenant_id, caller


async def test_the_right_identifiers_verify_and_every_attempt_is_recorded(
    app_pool: asyncpg.Pool,
) -> None:
    tenant_id, caller = await _caller_on_file(app_pool)
    call = sid()
    first = await verify(
        app_pool,
        tenant_id,
        caller_number=caller,
        call_sid=call,
        given=WRONG,
        policy=POLICY,
        now=NOW,
    )
    second = await verify(
        app_pool,
        tenant_id,
        caller_number=caller,
        call_sid=call,
        given=RIGHT,
        policy=POLICY,
        now=NOW,
    )
    assert (first.verified, first.reason) == (False, "mismatch")
    assert (second.verified, second.reason) == (True, "verified")
    async with tenant_tx(app_pool, tenant_id) as conn:
        rows = await conn.fetch(
            "SELECT verified, reason, fields FROM verification_attempts WHERE call_sid = $1 "
            "ORDER BY attempt_id",
            call,
        )
        logged = await conn.fetch(
            "SELECT action, target, changes::text AS changes FROM audit_log "
            "WHERE action = 'caller.verification' AND target = $1",
            call,
        )
    assert [(r["verified"], r["reason"]) for r in rows] == [(False, "mismatch"), (True, "verified")]
    assert len(logged) == 2
    assert all("1980" not in r["changes"] and "94110" not in r["changes"] for r in logged)


async def test_a_call_gets_a_limited_number_of_attempts(app_pool: asyncpg.Pool) -> None:
    tenant_id, caller = await _caller_on_file(app_pool)
    call = sid()
    reasons = [
        (
            await verify(
                app_pool,
                tenant_id,
                caller_number=caller,
                call_sid=call,
                given=WRONG,
                policy=POLICY,
                now=NOW,
            )
        ).reason
        for _ in range(3)
    ]
    last = await verify(
        app_pool,
        tenant_id,
        caller_number=caller,
        call_sid=call,
        given=RIGHT,
        policy=POLICY,
        now=NOW,
    )
    assert reasons == ["mismatch"] * 3
    assert (last.verified, last.reason) == (False, "call_limit")


async def test_failures_across_calls_lock_the_caller_until_the_cooldown_ends(
    app_pool: asyncpg.Pool,
) -> None:
    tenant_id, caller = await _caller_on_file(app_pool)
    for minute in range(5):  # five failed calls in five minutes
        await verify(
            app_pool,
            tenant_id,
            caller_number=caller,
            call_sid=sid(),
            given=WRONG,
            policy=POLICY,
            now=NOW + timedelta(minutes=minute),
        )
    locked = await verify(
        app_pool,
        tenant_id,
        caller_number=caller,
        call_sid=sid(),
        given=RIGHT,
        policy=POLICY,
        now=NOW + timedelta(minutes=5),
    )
    assert (locked.verified, locked.reason) == (False, "caller_locked")
    assert locked.retry_at == NOW + timedelta(seconds=POLICY.cooldown_s)
    later = await verify(
        app_pool,
        tenant_id,
        caller_number=caller,
        call_sid=sid(),
        given=RIGHT,
        policy=POLICY,
        now=NOW + timedelta(minutes=20),
    )
    assert later.verified


async def test_a_caller_with_nothing_on_file_cannot_be_verified(app_pool: asyncpg.Pool) -> None:
    tenant_id = await new_tenant(app_pool, "Verify Agency")
    attempt = await verify(
        app_pool,
        tenant_id,
        caller_number=phone(),
        call_sid=sid(),
        given=RIGHT,
        policy=POLICY,
        now=NOW,
    )
    assert (attempt.verified, attempt.reason) == (False, "no_identifiers")


async def test_an_unreadable_identifier_is_refused_and_nothing_is_written(
    app_pool: asyncpg.Pool,
) -> None:
    tenant_id, caller = await _caller_on_file(app_pool)
    with pytest.raises(VerificationError):
        await set_identifiers(
            app_pool, tenant_id, caller, {"zip_code": "10001", "date_of_birth": "soon"}, actor=ADMIN
        )
    ok = await verify(
        app_pool,
        tenant_id,
        caller_number=caller,
        call_sid=sid(),
        given=RIGHT,
        policy=POLICY,
        now=NOW,
    )
    assert ok.verified  # the ZIP code was not changed either


async def test_another_tenant_cannot_use_or_see_the_identifiers(app_pool: asyncpg.Pool) -> None:
    tenant_id, caller = await _caller_on_file(app_pool)
    other = await new_tenant(app_pool, "Other Agency")
    assert await fields_on_file(app_pool, other, caller) == ()
    attempt = await verify(
        app_pool, other, caller_number=caller, call_sid=sid(), given=RIGHT, policy=POLICY, now=NOW
    )
    assert attempt.reason == "no_identifiers"
    assert await fields_on_file(app_pool, tenant_id, caller) == ("date_of_birth", "zip_code")


async def test_forgetting_a_caller_removes_their_identifiers_and_attempts(
    app_pool: asyncpg.Pool,
) -> None:
    tenant_id, caller = await _caller_on_file(app_pool)
    await verify(
        app_pool,
        tenant_id,
        caller_number=caller,
        call_sid=sid(),
        given=WRONG,
        policy=POLICY,
        now=NOW,
    )
    await forget_caller(app_pool, tenant_id, caller)
    assert await fields_on_file(app_pool, tenant_id, caller) == ()
    async with tenant_tx(app_pool, tenant_id) as conn:
        left = await conn.fetchval(
            "SELECT count(*) FROM verification_attempts WHERE caller_number = $1", caller
        )
    assert left == 0


async def test_a_tenant_requires_verification_unless_its_policy_says_otherwise(
    app_pool: asyncpg.Pool,
) -> None:
    tenant_id = await new_tenant(app_pool, "Policy Agency")
    config = await tenants.load_config(app_pool, tenant_id)
    assert config is not None
    assert config.verification == VerificationPolicy()
    assert config.verification.required
    assert uuid.UUID(config.tenant_id)


async def test_a_resumed_call_finds_its_own_verified_attempt_and_nothing_else(
    app_pool: asyncpg.Pool,
) -> None:
    """What a call resumed on a new actor asks: only a verified attempt of this caller on this
    call counts - not a failed one, not another call's, not another number's."""
    tenant_id, caller = await _caller_on_file(app_pool)
    call, other_call = sid(), sid()

    async def verified(call_sid: str, number: str) -> bool:
        return await verified_on_call(app_pool, tenant_id, call_sid=call_sid, caller_number=number)

    await verify(
        app_pool,
        tenant_id,
        caller_number=caller,
        call_sid=call,
        given=WRONG,
        policy=POLICY,
        now=NOW,
    )
    assert not await verified(call, caller)
    await verify(
        app_pool,
        tenant_id,
        caller_number=caller,
        call_sid=call,
        given=RIGHT,
        policy=POLICY,
        now=NOW,
    )
    assert await verified(call, caller)
    assert not await verified(other_call, caller)
    assert not await verified(call, phone())
    elsewhere = await new_tenant(app_pool, "Other Agency")
    assert not await verified_on_call(app_pool, elsewhere, call_sid=call, caller_number=caller)
