"""Tenant isolation of the caller-memory tables, as the app role.

The catalog guard covers every table with a tenant_id (RLS enabled and forced, the
tenant_isolation policy with USING and WITH CHECK, no other policy open to the app role) and
the app role itself (no superuser, no BYPASSRLS, owns nothing); it is shown to catch a broken
policy. The two-tenant matrix then checks behaviour: the other tenant's rows cannot be read,
updated, deleted or inserted, no tenant means no rows, vector search never crosses tenants, and
a pooled connection carries no tenant into its next use."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest

from actors.memory_actor import MemoryActor
from engine.sim.openai_http import OpenAIHttpSimulator
from memory.caller_records import NewMemory
from memory.db import create_pool, tenant_tx
from memory.embedded import APP_ROLE
from tests.conftest import PgUrls
from tests.memory_support import (
    SIM_KEY,
    memory_config,
    new_tenant,
    phone,
    record_call,
    script,
    token,
    wait_job,
)

MEMORY_TABLES = (
    "caller_profiles",
    "memories",
    "memory_history",
    "call_summaries",
    "personality_metrics",
    "personality_averages",
    "knowledge_entries",
    "memory_consolidations",
    "post_call_jobs",
)
# The policy expression as Postgres deparses it: the tenant, or NULL (no rows) when unset.
FAIL_CLOSED = "(tenant_id = (NULLIF(current_setting('app.tenant_id'::text, true), ''::text))::uuid)"

PLATFORM_ONLY = "((tenant_id IS NULL) AND "

_TENANT_TABLES = """
SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity
FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid
WHERE c.relkind IN ('r', 'p') AND a.attname = 'tenant_id' AND NOT a.attisdropped
  AND c.relnamespace = 'public'::regnamespace
ORDER BY c.relname
"""


async def rls_violations(conn: asyncpg.Connection) -> list[str]:
    """Everything wrong with tenant isolation in the catalog, as readable lines."""
    problems: list[str] = []
    for table in await conn.fetch(_TENANT_TABLES):
        name = table["relname"]
        if not table["relrowsecurity"]:
            problems.append(f"{name}: RLS not enabled")
        if not table["relforcerowsecurity"]:
            problems.append(f"{name}: RLS not forced")
        policies = await conn.fetch(
            "SELECT policyname, permissive, roles, cmd, qual, with_check FROM pg_policies "
            "WHERE schemaname = 'public' AND tablename = $1",
            name,
        )
        isolation = [p for p in policies if p["policyname"] == "tenant_isolation"]
        if len(isolation) != 1:
            problems.append(f"{name}: no tenant_isolation policy")
        else:
            policy = isolation[0]
            for part in ("qual", "with_check"):
                text = policy[part] or ""
                if text != FAIL_CLOSED:
                    problems.append(f"{name}: tenant_isolation {part} is {text!r}")
            if policy["cmd"] != "ALL" or list(policy["roles"]) != ["public"]:
                problems.append(f"{name}: tenant_isolation must apply to every command and role")
        for other in policies:
            if other["policyname"] == "tenant_isolation" or other["permissive"] != "PERMISSIVE":
                continue
            if "public" not in other["roles"] and APP_ROLE not in other["roles"]:
                continue  # e.g. the lookup and job-claim roles behind SECURITY DEFINER functions
            # A permissive policy ORs with tenant_isolation: it may only ever add rows that
            # belong to no tenant (the admin platform's rows), never another tenant's.
            platform_only = all(
                (other[part] or "").startswith(PLATFORM_ONLY) for part in ("qual", "with_check")
            )
            if not platform_only:
                problems.append(f"{name}: policy {other['policyname']} opens rows to the app role")
    role = await conn.fetchrow(
        "SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = $1", APP_ROLE
    )
    if role is None or role["rolsuper"] or role["rolbypassrls"]:
        problems.append(f"{APP_ROLE}: must exist without SUPERUSER and BYPASSRLS")
    owned = await conn.fetchval(
        "SELECT (SELECT count(*) FROM pg_class WHERE relowner = $1::regrole) "
        "+ (SELECT count(*) FROM pg_proc WHERE proowner = $1::regrole)",
        APP_ROLE,
    )
    if owned:
        problems.append(f"{APP_ROLE}: owns {owned} objects")
    return problems


async def test_catalog_guard_passes_for_every_tenant_table(pg_urls: PgUrls) -> None:
    conn = await asyncpg.connect(pg_urls.owner)
    try:
        names = {r["relname"] for r in await conn.fetch(_TENANT_TABLES)}
        assert names >= {*MEMORY_TABLES, "tenants", "calls", "call_turns", "messages"}
        assert await rls_violations(conn) == []
    finally:
        await conn.close()


@pytest.mark.parametrize(
    ("sabotage", "expected"),
    [
        (
            "ALTER POLICY tenant_isolation ON memories USING (true)",
            "memories: tenant_isolation qual",
        ),
        (
            "ALTER POLICY tenant_isolation ON call_summaries WITH CHECK (true)",
            "call_summaries: tenant_isolation with_check",
        ),
        (
            "ALTER TABLE caller_profiles NO FORCE ROW LEVEL SECURITY",
            "caller_profiles: RLS not forced",
        ),
        (
            "CREATE POLICY peek ON knowledge_entries FOR SELECT USING (true)",
            "knowledge_entries: policy peek opens rows",
        ),
        ("DROP POLICY tenant_isolation ON post_call_jobs", "post_call_jobs: no tenant_isolation"),
    ],
)
async def test_catalog_guard_catches_a_broken_policy(
    pg_urls: PgUrls, sabotage: str, expected: str
) -> None:
    conn = await asyncpg.connect(pg_urls.owner)
    try:
        tx = conn.transaction()
        await tx.start()
        try:
            await conn.execute(sabotage)
            problems = await rls_violations(conn)
        finally:
            await tx.rollback()
        assert any(p.startswith(expected) for p in problems), problems
    finally:
        await conn.close()


# --- the two-tenant matrix, as the app role ----------------------------------------------------


@pytest.fixture(scope="module")
async def sim() -> AsyncIterator[OpenAIHttpSimulator]:
    async with OpenAIHttpSimulator(api_keys={SIM_KEY}) as server:
        yield server


@pytest.fixture(scope="module")
async def two_tenants(
    pg_urls: PgUrls, jwt_secret: str, app_pool: asyncpg.Pool, sim: OpenAIHttpSimulator
) -> tuple[str, str]:
    """Tenants A and B, each with a row in every memory table; B's rows all say 'zebracorn'."""
    actor = MemoryActor(memory_config(pg_urls.app, jwt_secret, sim))
    ids = []
    for word in ("aardvark", "zebracorn"):
        tenant = await new_tenant(app_pool, name=f"Agency {word}")
        tok = token(jwt_secret, tenant)
        caller = phone()
        lines = [
            ("caller", f"Hi, my name is Dana. My wife Sarah loves {word}s."),
            ("caller", f"Please remember that my {word} code is 4512. Thanks, bye."),
        ]
        call_sid = await record_call(actor, tok, caller, lines)
        await actor.enqueue_post_call(tok, call_sid, caller)
        await wait_job(actor, tok, call_sid)
        await actor.remember(tok, NewMemory(caller, call_sid, "note", f"{word} code", f"{word} 1"))
        await actor.remember(tok, NewMemory(caller, call_sid, "note", f"{word} code", f"{word} 2"))
        await actor.consolidate(tok, caller, call_sid, script(lines))
        await actor.save_knowledge(tok, "fact", f"{word} fact", f"All about the {word}.")
        ids.append(tenant)
    await actor.close()
    return ids[0], ids[1]


async def test_every_memory_table_has_rows_of_both_tenants(
    two_tenants: tuple[str, str], app_pool: asyncpg.Pool
) -> None:
    for tenant in two_tenants:
        async with tenant_tx(app_pool, tenant) as conn:
            for table in MEMORY_TABLES:
                assert await conn.fetchval(f"SELECT count(*) FROM {table}") > 0, table  # noqa: S608


@pytest.mark.parametrize("table", MEMORY_TABLES)
async def test_the_other_tenants_rows_are_out_of_reach(
    table: str, two_tenants: tuple[str, str], app_pool: asyncpg.Pool
) -> None:
    a, b = two_tenants
    ua, ub = uuid.UUID(a), uuid.UUID(b)
    async with tenant_tx(app_pool, b) as conn:
        b_row = await conn.fetchval(f"SELECT to_jsonb(t) FROM {table} t LIMIT 1")  # noqa: S608
    async with app_pool.acquire() as conn:
        tx = conn.transaction()
        await tx.start()
        try:
            await conn.execute("SELECT set_config('app.tenant_id', $1, true)", a)
            seen = await conn.fetch(f"SELECT DISTINCT tenant_id FROM {table}")  # noqa: S608
            assert [r["tenant_id"] for r in seen] == [ua]
            where_b = f"FROM {table} WHERE tenant_id = $1"
            assert await conn.fetchval(f"SELECT count(*) {where_b}", ub) == 0
            update_b = f"UPDATE {table} SET tenant_id = tenant_id WHERE tenant_id = $1"  # noqa: S608
            assert await conn.execute(update_b, ub) == "UPDATE 0"
            assert await conn.execute(f"DELETE {where_b}", ub) == "DELETE 0"
            # B's own row, replayed by A: refused by WITH CHECK.
            replay = f"INSERT INTO {table} SELECT * FROM jsonb_populate_record(NULL::{table}, $1)"  # noqa: S608
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                async with conn.transaction():
                    await conn.execute(replay, b_row)
            # Nor can A hand its own rows over to B.
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                async with conn.transaction():
                    await conn.execute(f"UPDATE {table} SET tenant_id = $1", ub)  # noqa: S608
        finally:
            await tx.rollback()
    async with tenant_tx(app_pool, b) as conn:  # B's data is untouched
        assert await conn.fetchval(f"SELECT to_jsonb(t) FROM {table} t LIMIT 1") == b_row  # noqa: S608


async def test_no_tenant_set_sees_nothing(
    two_tenants: tuple[str, str], app_pool: asyncpg.Pool
) -> None:
    async with app_pool.acquire() as conn:
        for table in MEMORY_TABLES:
            assert await conn.fetchval(f"SELECT count(*) FROM {table}") == 0, table  # noqa: S608
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute(
                "INSERT INTO knowledge_entries (tenant_id, kind, title, body) "
                "VALUES ($1, 'fact', 'x', 'y')",
                uuid.UUID(two_tenants[0]),
            )


async def test_vector_search_never_crosses_tenants(
    two_tenants: tuple[str, str],
    app_pool: asyncpg.Pool,
    pg_urls: PgUrls,
    jwt_secret: str,
    sim: OpenAIHttpSimulator,
) -> None:
    a, b = two_tenants
    async with tenant_tx(app_pool, b) as conn:
        b_vector = await conn.fetchval(
            "SELECT embedding FROM memories WHERE embedding IS NOT NULL LIMIT 1"
        )
    for seqscan in ("on", "off"):  # through the HNSW indexes and without them
        async with tenant_tx(app_pool, a) as conn:
            await conn.execute("SELECT set_config('enable_seqscan', $1, true)", seqscan)
            await conn.execute("SELECT set_config('hnsw.iterative_scan', 'relaxed_order', true)")
            for table in ("memories", "call_summaries", "knowledge_entries"):
                rows = await conn.fetch(
                    f"SELECT tenant_id FROM {table} ORDER BY embedding <=> $1::vector LIMIT 50",  # noqa: S608
                    b_vector,
                )
                assert rows, table
                assert {r["tenant_id"] for r in rows} == {uuid.UUID(a)}, table
    actor = MemoryActor(memory_config(pg_urls.app, jwt_secret, sim))
    try:
        for caller in (None, phone()):
            hits = await actor.search(token(jwt_secret, a), caller, "zebracorn code 4512", k=20)
            assert all("zebracorn" not in h.text for h in hits)
        hits = await actor.search(token(jwt_secret, b), None, "zebracorn code", k=20)
        assert any("zebracorn" in h.text for h in hits)  # the probe can find B's rows as B
    finally:
        await actor.close()


async def test_a_pooled_connection_forgets_its_tenant(
    two_tenants: tuple[str, str], pg_urls: PgUrls
) -> None:
    pool = await create_pool(pg_urls.app, min_size=1, max_size=1)
    try:
        async with tenant_tx(pool, two_tenants[0]) as conn:
            first_pid = await conn.fetchval("SELECT pg_backend_pid()")
            assert await conn.fetchval("SELECT count(*) FROM memories") > 0
        async with pool.acquire() as conn:  # the same connection, released by tenant A
            assert await conn.fetchval("SELECT pg_backend_pid()") == first_pid
            assert not await conn.fetchval("SELECT current_setting('app.tenant_id', true)")
            for table in MEMORY_TABLES:
                assert await conn.fetchval(f"SELECT count(*) FROM {table}") == 0, table  # noqa: S608
    finally:
        await pool.close()


async def test_the_job_claim_reveals_only_keys(pg_urls: PgUrls) -> None:
    conn = await asyncpg.connect(pg_urls.app)
    try:
        columns = await conn.fetch(
            "SELECT unnest(proargnames) AS name FROM pg_proc WHERE proname = 'claim_post_call_job'"
        )
        outputs = {r["name"] for r in columns} - {"p_queue", "p_lease_s", "p_max_attempts"}
        assert outputs == {"tenant_id", "call_sid", "attempts", "lease_id"}
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute("SET ROLE neurosphere_jobs")
    finally:
        await conn.close()
