"""Row-level security of the admin tables: a tenant's transaction sees only its rows, a platform
transaction only platform rows, no setting sees nothing; the audit log is append-only; the
lookup functions reveal ids, names and limits but never secrets."""

from __future__ import annotations

import uuid

import asyncpg
import pytest

from engine.secret_box import TWILIO_LABEL, SecretBox
from memory import audit, tenant_admin, users
from memory.admin_db import platform_tx
from memory.audit import SYSTEM
from memory.db import tenant_tx
from memory.tenant_admin import TenantSpec
from memory.users import NewUser

HASH = "$argon2id$v=19$m=8192,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"


async def _tenant(pool: asyncpg.Pool) -> str:
    number = "+1555" + str(uuid.uuid4().int)[:7]
    spec = TenantSpec("RLS Agency", "America/New_York", 3, {}, (number,), None, "secret-token-xyz")
    tokens = SecretBox("rls-test-engine-secret-" + "x" * 20, TWILIO_LABEL)
    return (await tenant_admin.create_tenant(pool, spec, SYSTEM, tokens=tokens)).tenant_id


def _email() -> str:
    return f"rls-{uuid.uuid4().hex[:8]}@agency.example"


async def test_scopes_see_only_their_own_rows(app_pool: asyncpg.Pool) -> None:
    tenant_a, tenant_b = await _tenant(app_pool), await _tenant(app_pool)
    user_a = await users.create_user(app_pool, NewUser(tenant_a, _email(), "owner", HASH), SYSTEM)
    await users.create_user(app_pool, NewUser(tenant_b, _email(), "owner", HASH), SYSTEM)
    platform = await users.create_user(
        app_pool, NewUser(None, _email(), "platform_admin", HASH), SYSTEM
    )
    query = "SELECT user_id, tenant_id FROM admin_users"
    async with tenant_tx(app_pool, tenant_a) as conn:
        seen = {str(r["user_id"]) for r in await conn.fetch(query)}
        assert user_a.user_id in seen
        assert platform.user_id not in seen
        assert {str(r["tenant_id"]) for r in await conn.fetch(query)} == {tenant_a}
    async with platform_tx(app_pool) as conn:
        rows = await conn.fetch(query)
        assert platform.user_id in {str(r["user_id"]) for r in rows}
        assert all(r["tenant_id"] is None for r in rows)
        # A platform transaction cannot write a tenant's rows either.
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="row-level security"):
            await conn.execute(
                "INSERT INTO audit_log (tenant_id, action) VALUES ($1, 'x.y')", uuid.UUID(tenant_a)
            )
    async with app_pool.acquire() as conn:
        assert await conn.fetch(query) == []  # no scope at all: nothing
        assert await conn.fetch("SELECT * FROM admin_sessions") == []


async def test_audit_log_is_append_only(app_pool: asyncpg.Pool) -> None:
    tenant = await _tenant(app_pool)
    async with tenant_tx(app_pool, tenant) as conn:
        await audit.write(conn, tenant, SYSTEM, "test.entry", "x", {"a": 1})
    async with tenant_tx(app_pool, tenant) as conn:
        assert await conn.execute("UPDATE audit_log SET action = 'test.forged'") == "UPDATE 0"
        assert await conn.execute("DELETE FROM audit_log") == "DELETE 0"
    entries = await audit.list_entries(app_pool, tenant)
    assert "test.entry" in [e.action for e in entries]
    assert "test.forged" not in [e.action for e in entries]


async def test_lookup_functions_reveal_no_secrets(app_pool: asyncpg.Pool) -> None:
    tenant = await _tenant(app_pool)
    email = _email()
    user = await users.create_user(app_pool, NewUser(tenant, email, "viewer", HASH), SYSTEM)
    async with app_pool.acquire() as conn:
        found = await conn.fetch("SELECT * FROM admin_login_lookup($1)", email.upper())
        assert [dict(r) for r in found] == [
            {"user_id": uuid.UUID(user.user_id), "tenant_id": uuid.UUID(tenant)}
        ]
        listed = await conn.fetch("SELECT * FROM platform_tenants(NULL, 200, NULL)")
        assert "twilio_auth_token" not in listed[0]
        assert "secret-token-xyz" not in str([dict(r) for r in listed])
        # The app role cannot become the lookup role or read hashes around RLS.
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute("SET ROLE neurosphere_lookup")
