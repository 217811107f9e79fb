"""The data layer against real Postgres: RLS catalog guard, tenant isolation, idempotent turns
and callbacks, number resolution."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import asyncpg
import pytest

from engine.secret_box import TWILIO_LABEL, SecretBox
from memory import calls, tenants
from memory.call_records import CallEnd, CallStart, Turn
from memory.db import tenant_tx
from memory.embedded import APP_ROLE
from tests.conftest import PgUrls
from tests.memory_support import UNDRAINED


def _sid() -> str:
    return "CA" + uuid.uuid4().hex


TOKENS = SecretBox("store-test-engine-secret-" + "x" * 20, TWILIO_LABEL)


def _number() -> str:
    return "+1555" + str(uuid.uuid4().int)[:7]


async def _tenant(pool: asyncpg.Pool, name: str = "Agency") -> tuple[str, str]:
    number = _number()
    tenant_id = await tenants.create_tenant(
        pool,
        tenants.NewTenant(name=name, numbers=(number,), twilio_auth_token="tok"),
        tokens=TOKENS,
    )
    return tenant_id, number


async def test_every_tenant_table_has_forced_rls_with_check(pg_urls: PgUrls) -> None:
    conn = await asyncpg.connect(pg_urls.owner)
    try:
        tables = await conn.fetch(
            """
            SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity
            FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid
            WHERE c.relkind = 'r' AND a.attname = 'tenant_id' AND NOT a.attisdropped
              AND c.relnamespace = 'public'::regnamespace
            """
        )
        assert {t["relname"] for t in tables} >= {"tenants", "calls", "call_turns", "phone_numbers"}
        for table in tables:
            assert table["relrowsecurity"], table["relname"]
            assert table["relforcerowsecurity"], table["relname"]
            policy = await conn.fetchrow(
                "SELECT qual, with_check FROM pg_policies "
                "WHERE tablename = $1 AND policyname = 'tenant_isolation'",
                table["relname"],
            )
            assert policy is not None, table["relname"]
            assert "app.tenant_id" in policy["qual"]
            assert "app.tenant_id" in policy["with_check"]
        role = await conn.fetchrow(
            "SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = $1", APP_ROLE
        )
        assert role is not None
        assert not role["rolsuper"]
        assert not role["rolbypassrls"]
        owned = await conn.fetchval(
            "SELECT count(*) FROM pg_class WHERE relowner = $1::regrole", APP_ROLE
        )
        assert owned == 0
    finally:
        await conn.close()


async def test_numbers_resolve_to_their_tenant_only(app_pool: asyncpg.Pool) -> None:
    tenant_a, number_a = await _tenant(app_pool)
    tenant_b, number_b = await _tenant(app_pool)
    assert await tenants.resolve_number(app_pool, number_a) == tenant_a
    assert await tenants.resolve_number(app_pool, number_b) == tenant_b
    assert await tenants.resolve_number(app_pool, "+19999999999") is None
    with pytest.raises(tenants.NumberTaken):
        await tenants.create_tenant(
            app_pool, tenants.NewTenant(name="Copycat", numbers=(number_a,)), tokens=TOKENS
        )


async def test_other_tenants_calls_are_invisible_and_unwritable(app_pool: asyncpg.Pool) -> None:
    tenant_a, _ = await _tenant(app_pool)
    tenant_b, _ = await _tenant(app_pool)
    sid = _sid()
    await calls.start_call(
        app_pool, tenant_a, CallStart(sid, "+15551230000", "+15559870000"), outbox_queue=UNDRAINED
    )
    assert await calls.get_call(app_pool, tenant_a, sid) is not None
    assert await calls.get_call(app_pool, tenant_b, sid) is None
    await calls.finish_call(app_pool, tenant_b, sid, CallEnd("hijacked"), outbox_queue=UNDRAINED)
    record = await calls.get_call(app_pool, tenant_a, sid)
    assert record is not None
    assert record.outcome is None
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        async with tenant_tx(app_pool, tenant_b) as conn:
            await conn.execute(
                "INSERT INTO calls (tenant_id, call_sid, from_number, to_number) "
                "VALUES ($1, $2, 'x', 'y')",
                uuid.UUID(tenant_a),
                _sid(),
            )
    async with app_pool.acquire() as conn:  # no tenant set: nothing at all
        assert await conn.fetchval("SELECT count(*) FROM calls") == 0


async def test_turn_batches_are_idempotent_and_ordered(app_pool: asyncpg.Pool) -> None:
    tenant_id, _ = await _tenant(app_pool)
    sid = _sid()
    await calls.start_call(
        app_pool, tenant_id, CallStart(sid, "+15551230000", "+15559870000"), outbox_queue=UNDRAINED
    )
    now = datetime.now(UTC)
    first = [Turn(i, "caller", f"line {i}", now) for i in range(3)]
    await calls.append_turns(app_pool, tenant_id, sid, first)
    await calls.append_turns(app_pool, tenant_id, sid, first)  # a retried batch
    await calls.append_turns(
        app_pool, tenant_id, sid, [*first[2:], Turn(3, "agent", "reply", now, {"k": 1})]
    )
    turns = await calls.load_turns(app_pool, tenant_id, sid)
    assert [(t.seq, t.text) for t in turns] == [
        (0, "line 0"),
        (1, "line 1"),
        (2, "line 2"),
        (3, "reply"),
    ]
    assert turns[3].meta == {"k": 1}


async def test_status_callbacks_apply_once_and_terminal_status_sticks(
    app_pool: asyncpg.Pool,
) -> None:
    tenant_id, _ = await _tenant(app_pool)
    sid = _sid()
    await calls.start_call(
        app_pool, tenant_id, CallStart(sid, "+15551230000", "+15559870000"), outbox_queue=UNDRAINED
    )
    assert await calls.record_event(app_pool, tenant_id, sid, "status", "completed:3", {})
    assert not await calls.record_event(app_pool, tenant_id, sid, "status", "completed:3", {})
    await calls.apply_twilio_status(
        app_pool, tenant_id, sid, "completed", 42, outbox_queue=UNDRAINED
    )
    await calls.apply_twilio_status(
        app_pool, tenant_id, sid, "ringing", None, outbox_queue=UNDRAINED
    )  # late, reordered
    record = await calls.get_call(app_pool, tenant_id, sid)
    assert record is not None
    assert record.twilio_status == "completed"
    assert record.outcome == "twilio_completed"
    assert record.ended_at is not None


async def test_the_engines_outcome_replaces_twilios_placeholder(app_pool: asyncpg.Pool) -> None:
    tenant_id, _ = await _tenant(app_pool)
    sid = _sid()
    await calls.start_call(
        app_pool, tenant_id, CallStart(sid, "+15551230000", "+15559870000"), outbox_queue=UNDRAINED
    )
    await calls.apply_twilio_status(
        app_pool, tenant_id, sid, "completed", 42, outbox_queue=UNDRAINED
    )  # came first
    await calls.finish_call(
        app_pool, tenant_id, sid, CallEnd("caller_hung_up", duration_ms=5), outbox_queue=UNDRAINED
    )
    await calls.finish_call(
        app_pool, tenant_id, sid, CallEnd("engine_shutdown"), outbox_queue=UNDRAINED
    )  # replay
    record = await calls.get_call(app_pool, tenant_id, sid)
    assert record is not None
    assert record.outcome == "caller_hung_up"
    assert record.twilio_status == "completed"


async def test_first_outcome_wins(app_pool: asyncpg.Pool) -> None:
    tenant_id, _ = await _tenant(app_pool)
    sid = _sid()
    await calls.start_call(
        app_pool, tenant_id, CallStart(sid, "+15551230000", "+15559870000"), outbox_queue=UNDRAINED
    )
    await calls.finish_call(
        app_pool, tenant_id, sid, CallEnd("caller_hung_up", duration_ms=5), outbox_queue=UNDRAINED
    )
    await calls.finish_call(
        app_pool, tenant_id, sid, CallEnd("model_failed", duration_ms=9), outbox_queue=UNDRAINED
    )
    record = await calls.get_call(app_pool, tenant_id, sid)
    assert record is not None
    assert (record.outcome, record.duration_ms) == ("caller_hung_up", 5)


async def test_active_tenants_lists_only_active_ones(app_pool: asyncpg.Pool) -> None:
    active, _ = await _tenant(app_pool)
    suspended, number = await _tenant(app_pool)
    async with tenant_tx(app_pool, suspended) as conn:
        await conn.execute(
            "UPDATE tenants SET status = 'suspended' WHERE tenant_id = $1", uuid.UUID(suspended)
        )
    listed = await tenants.active_tenants(app_pool)
    assert active in listed
    assert suspended not in listed
    assert await tenants.resolve_number(app_pool, number) is None
