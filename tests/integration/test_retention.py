"""Data retention against real Postgres and a real recordings directory: each tenant's calls
past its retention_days go with every row keyed by them and their recording files; fresh calls,
other tenants, caller profiles and memories stay; a second run finds nothing; big purges go in
batches; files are removed only once their rows' deletion committed; memory actor 0 runs it on
its own and `neurosphere db purge` runs it once. Actor 0's run also prunes the login throttle:
rows past their failure window and their lock go, in bounded batches; a row still inside its
window or its lock-out stays and still locks."""

from __future__ import annotations

import asyncio
import json
import secrets
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest

from actors.memory_actor import MemoryActor
from engine import cli
from engine.cli import common
from engine.sim.openai_http import OpenAIHttpSimulator
from memory import audit, caller_memory, login_throttle, profiles, retention
from memory.admin_db import platform_tx
from memory.caller_records import CallFacts, MemoryWrite
from memory.db import create_pool, tenant_tx
from memory.recording_files import RecordingStore
from memory.retention import PurgeCounts
from tests.conftest import PgUrls
from tests.memory_support import SIM_KEY, memory_config, new_tenant, phone, sid

# What one seeded call leaves in each call-keyed table.
ONE_CALL = PurgeCounts(
    calls=1,
    turns=3,
    events=1,
    messages=1,
    summaries=1,
    personality=1,
    consolidations=1,
    jobs=1,
    verifications=1,
    recordings=1,
    files=1,
)

_CALL_TABLES = """
SELECT table_name FROM information_schema.columns
WHERE table_schema = 'public' AND column_name = 'call_sid'
"""


@dataclass(frozen=True)
class Seeded:
    call_sid: str
    caller: str
    recording: Path


def superuser_db(pg_urls: PgUrls) -> str:
    """The app's database as superuser: row-level security hides nothing."""
    return pg_urls.superuser.replace("/postgres?", "/neurosphere?", 1)


async def tenant_with_retention(pool: asyncpg.Pool, days: int) -> str:
    tenant_id = await new_tenant(pool, f"Retention {days}d Agency")
    async with tenant_tx(pool, tenant_id) as conn:
        await conn.execute(
            "UPDATE agent_configs SET retention_days = $2 WHERE tenant_id = $1",
            uuid.UUID(tenant_id),
            days,
        )
    return tenant_id


async def seed_call(
    pool: asyncpg.Pool,
    store: RecordingStore,
    tenant_id: str,
    *,
    started_days_ago: float,
    ended_days_ago: float | None,
) -> Seeded:
    """A call with a row in every call-keyed table (turns with a tool call, an event, a
    message, summary, personality scores, a consolidation, a post-call job, a stored recording
    and its file), plus the caller's profile and a memory, which are not call-scoped."""
    tenant = uuid.UUID(tenant_id)
    call_sid, caller, recording_sid = sid(), phone(), "RE" + uuid.uuid4().hex
    now = datetime.now(UTC)
    started = now - timedelta(days=started_days_ago)
    ended = now - timedelta(days=ended_days_ago) if ended_days_ago is not None else None
    file_name = store.file_name(tenant_id, recording_sid)
    async with tenant_tx(pool, tenant_id) as conn:
        await conn.execute(
            "INSERT INTO calls (tenant_id, call_sid, from_number, to_number, started_at, "
            "ended_at, outcome) VALUES ($1, $2, $3, '+15550000000', $4, $5, $6)",
            tenant,
            call_sid,
            caller,
            started,
            ended,
            "caller_hung_up" if ended else None,
        )
        await conn.executemany(
            "INSERT INTO call_turns (tenant_id, call_sid, seq, role, text, at) "
            "VALUES ($1, $2, $3, $4, $5, $6)",
            [
                (tenant, call_sid, 0, "agent", "Hello, this is Ava.", started),
                (tenant, call_sid, 1, "tool", 'take_message({"reason": "x"})', started),
                (tenant, call_sid, 2, "caller", "My policy is PA-1.", started),
            ],
        )
        await conn.execute(
            "INSERT INTO call_events (tenant_id, call_sid, kind, key) "
            "VALUES ($1, $2, 'stream', 'MZ1')",
            tenant,
            call_sid,
        )
        await conn.execute(
            "INSERT INTO messages (tenant_id, message_id, call_sid, caller_number, reason) "
            "VALUES ($1, $2, $3, $4, 'Call me back')",
            tenant,
            uuid.uuid4(),
            call_sid,
            caller,
        )
        facts = CallFacts(call_sid, started, 60_000)
        await profiles.save_summary(
            conn,
            tenant_id,
            caller,
            facts,
            summary="Asked about the auto policy.",
            key_topics=["auto"],
            key_variables={},
            sentiment="neutral",
            resolution_status="resolved",
            embedding=None,
        )
        await profiles.save_personality(conn, tenant_id, caller, facts, {"openness": 60.0})
        await profiles.count_call(
            conn, tenant_id, caller, started, preferred_name="Dana", preferences={}
        )
        await caller_memory.upsert(
            conn,
            tenant_id,
            caller,
            call_sid,
            [MemoryWrite("vehicle", "car", {"make": "Subaru"}, "Drives a Subaru")],
            [None],
        )
        await conn.execute(
            "INSERT INTO memory_consolidations (tenant_id, call_sid, digest, caller_number, "
            "first_seq, last_seq, items) VALUES ($1, $2, 'd1', $3, 0, 2, 1)",
            tenant,
            call_sid,
            caller,
        )
        await conn.execute(
            "INSERT INTO verification_attempts (tenant_id, caller_number, call_sid, verified, "
            "reason, fields) VALUES ($1, $2, $3, false, 'mismatch', '{zip_code}')",
            tenant,
            caller,
            call_sid,
        )
        await conn.execute(
            "INSERT INTO post_call_jobs (tenant_id, call_sid, caller_number, queue, status) "
            "VALUES ($1, $2, $3, 'retention-test', 'done')",
            tenant,
            call_sid,
            caller,
        )
        await conn.execute(
            "INSERT INTO recordings (tenant_id, recording_sid, call_sid, status, file_name, "
            "size_bytes) VALUES ($1, $2, $3, 'stored', $4, 4)",
            tenant,
            recording_sid,
            call_sid,
            file_name,
        )
    path = store.path(file_name)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"RIFF")
    return Seeded(call_sid, caller, path)


async def rows_of(db: asyncpg.Connection, call_sid: str) -> dict[str, int]:
    """Rows per table, of every table the catalog says has a call_sid column."""
    found: dict[str, int] = {}
    for row in await db.fetch(_CALL_TABLES):
        table = row["table_name"]
        found[table] = await db.fetchval(
            f'SELECT count(*) FROM "{table}" WHERE call_sid = $1',  # noqa: S608
            call_sid,
        )
    return found


async def caller_kept(db: asyncpg.Connection, caller: str) -> tuple[int, int]:
    """(profiles, memories) of a caller: never call-scoped, never purged."""
    profiles_ = await db.fetchval(
        "SELECT count(*) FROM caller_profiles WHERE caller_number = $1", caller
    )
    memories = await db.fetchval("SELECT count(*) FROM memories WHERE caller_number = $1", caller)
    return profiles_, memories


@pytest.fixture
async def db(pg_urls: PgUrls) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(superuser_db(pg_urls))
    try:
        yield conn
    finally:
        await conn.close()


def result_for(results: list[retention.TenantPurge], tenant_id: str) -> retention.TenantPurge:
    return next(r for r in results if r.tenant_id == tenant_id)


async def test_purge_deletes_calls_past_retention_with_everything_keyed_by_them(
    app_pool: asyncpg.Pool, db: asyncpg.Connection, tmp_path: Path
) -> None:
    store = RecordingStore(tmp_path)
    short = await tenant_with_retention(app_pool, 30)
    long = await tenant_with_retention(app_pool, 365)
    gone = [
        await seed_call(app_pool, store, short, started_days_ago=40, ended_days_ago=40),
        # Never ended (the engine died): its start counts.
        await seed_call(app_pool, store, short, started_days_ago=40, ended_days_ago=None),
        await seed_call(app_pool, store, long, started_days_ago=400, ended_days_ago=400),
    ]
    kept = [
        await seed_call(app_pool, store, short, started_days_ago=10, ended_days_ago=10),
        # Started before the cutoff but ended after it: retention runs from the end.
        await seed_call(app_pool, store, short, started_days_ago=40, ended_days_ago=20),
        await seed_call(app_pool, store, long, started_days_ago=40, ended_days_ago=40),
    ]
    full = await rows_of(db, kept[0].call_sid)
    assert set(full) == retention.PURGED_TABLES
    assert all(full.values())

    results = await retention.purge_all(app_pool, RecordingStore(tmp_path).remove_many)

    assert result_for(results, short).counts == ONE_CALL + ONE_CALL
    assert result_for(results, short).retention_days == 30
    assert result_for(results, long).counts == ONE_CALL
    for seeded in gone:
        assert set((await rows_of(db, seeded.call_sid)).values()) == {0}
        assert not seeded.recording.exists()
        assert await caller_kept(db, seeded.caller) == (1, 1)
    for seeded in kept:
        assert await rows_of(db, seeded.call_sid) == full
        assert seeded.recording.exists()
    entries = await audit.list_entries(app_pool, short, action="retention.purged")
    assert len(entries) == 1
    assert entries[0].actor_email == "system"
    assert entries[0].changes == {"retention_days": 30, **(ONE_CALL + ONE_CALL).as_dict()}
    assert not any(s.caller in json.dumps(entries[0].changes) for s in gone)

    again = await retention.purge_all(app_pool, RecordingStore(tmp_path).remove_many)
    assert result_for(again, short).counts == PurgeCounts()
    assert result_for(again, long).counts == PurgeCounts()
    assert len(await audit.list_entries(app_pool, short, action="retention.purged")) == 1
    for seeded in kept:
        assert await rows_of(db, seeded.call_sid) == full


async def test_a_big_purge_goes_in_bounded_batches(
    app_pool: asyncpg.Pool, db: asyncpg.Connection, tmp_path: Path
) -> None:
    store = RecordingStore(tmp_path)
    tenant_id = await tenant_with_retention(app_pool, 1)
    old = [
        await seed_call(app_pool, store, tenant_id, started_days_ago=3, ended_days_ago=2)
        for _ in range(7)
    ]
    fresh = await seed_call(app_pool, store, tenant_id, started_days_ago=0.1, ended_days_ago=0.1)
    # A download that died half-way left a partial file behind: it goes with its recording.
    partial = old[-1].recording.with_name(old[-1].recording.stem + ".0badf00d.part")
    partial.write_bytes(b"RI")

    first = await retention.purge_batch(app_pool, tenant_id, 3)
    assert (first.counts.calls, len(first.recording_sids)) == (3, 3)
    assert first.counts.turns == 9
    assert all(p.exists() for p in (s.recording for s in old))  # files are the caller's job

    remove = RecordingStore(tmp_path).remove_many
    result = await retention.purge_tenant(app_pool, tenant_id, remove, batch_size=3)
    assert (result.counts.calls, result.counts.files, result.failed) == (4, 5, False)
    assert not partial.exists()
    assert not any(s.recording.exists() for s in old[3:])
    for seeded in old:
        assert set((await rows_of(db, seeded.call_sid)).values()) == {0}
    assert fresh.recording.exists()
    assert all((await rows_of(db, fresh.call_sid)).values())


async def test_files_are_removed_only_after_their_rows_are_gone_for_good(
    app_pool: asyncpg.Pool, db: asyncpg.Connection, tmp_path: Path
) -> None:
    store = RecordingStore(tmp_path)
    tenant_id = await tenant_with_retention(app_pool, 1)
    old = [
        await seed_call(app_pool, store, tenant_id, started_days_ago=5, ended_days_ago=5)
        for _ in range(2)
    ]
    loop = asyncio.get_running_loop()
    files = RecordingStore(tmp_path)
    seen: list[int] = []

    def remove(tenant: str, recording_sids: tuple[str, ...]) -> tuple[int, list[str]]:
        # Another connection, at the moment the files go: the rows must already be gone.
        check = db.fetchval(
            "SELECT count(*) FROM recordings WHERE recording_sid = ANY($1::text[])",
            list(recording_sids),
        )
        seen.append(asyncio.run_coroutine_threadsafe(check, loop).result(timeout=10))
        if len(seen) == 1:
            raise PermissionError("read-only volume")  # a file that cannot go stays, logged
        return files.remove_many(tenant, recording_sids)

    result = await retention.purge_tenant(app_pool, tenant_id, remove, batch_size=1)

    assert seen == [0, 0]
    assert (result.counts.calls, result.counts.recordings, result.counts.files) == (2, 2, 1)
    assert result.failed
    assert sorted(s.recording.exists() for s in old) == [False, True]
    for seeded in old:
        assert set((await rows_of(db, seeded.call_sid)).values()) == {0}


async def test_every_table_keyed_by_call_is_purged(db: asyncpg.Connection) -> None:
    tables = {r["table_name"] for r in await db.fetch(_CALL_TABLES)}
    assert tables == retention.PURGED_TABLES


@pytest.fixture
async def sim() -> AsyncIterator[OpenAIHttpSimulator]:
    async with OpenAIHttpSimulator(api_keys={SIM_KEY}) as server:
        yield server


async def test_memory_actor_zero_purges_on_its_own(
    pg_urls: PgUrls,
    jwt_secret: str,
    app_pool: asyncpg.Pool,
    db: asyncpg.Connection,
    sim: OpenAIHttpSimulator,
    tmp_path: Path,
) -> None:
    store = RecordingStore(tmp_path)
    tenant_id = await tenant_with_retention(app_pool, 1)
    old = await seed_call(app_pool, store, tenant_id, started_days_ago=2, ended_days_ago=2)
    config = memory_config(
        pg_urls.app, jwt_secret, sim, retention_interval_s=0.2, recordings_dir=str(tmp_path)
    )
    first, second = MemoryActor(config, 0), MemoryActor(config, 1)
    try:
        assert (await second.check_health())["retention"] is False
        assert (await first.check_health())["retention"] is True
        for _ in range(200):
            if not old.recording.exists():
                break
            await asyncio.sleep(0.05)
        assert not old.recording.exists()
        assert set((await rows_of(db, old.call_sid)).values()) == {0}
        assert await first.run_retention() == PurgeCounts().as_dict()
    finally:
        await first.close()
        await second.close()


def test_db_purge_command_runs_once_and_prints_counts(
    monkeypatch: pytest.MonkeyPatch,
    pg_urls: PgUrls,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    store = RecordingStore(tmp_path)

    async def seed() -> tuple[str, Seeded]:
        pool = await create_pool(pg_urls.app, min_size=1, max_size=1)
        try:
            tenant_id = await tenant_with_retention(pool, 7)
            return tenant_id, await seed_call(
                pool, store, tenant_id, started_days_ago=8, ended_days_ago=8
            )
        finally:
            await pool.close()

    tenant_id, seeded = asyncio.run(seed())
    monkeypatch.setenv("DATABASE_URL", pg_urls.owner)
    monkeypatch.setenv("NEUROSPHERE_APP_DATABASE_URL", pg_urls.app)
    monkeypatch.setenv("NEUROSPHERE_RECORDINGS_DIR", str(tmp_path))
    # The CLI points structlog at this test's captured stderr; keep the session's logging.
    monkeypatch.setattr(common, "configure", lambda *args, **kwargs: None)

    assert cli.main(["db", "purge", "--batch-size", "2"]) == 0
    out = capsys.readouterr().out
    assert f"tenant {tenant_id} (7 days): calls=1 turns=3 events=1 messages=1" in out
    assert "recordings=1 files=1" in out
    assert seeded.caller not in out
    assert not seeded.recording.exists()
    assert cli.main(["db", "purge"]) == 0
    again = capsys.readouterr().out
    assert f"tenant {tenant_id} (" not in again
    assert "purged" in again


# --- the login throttle, pruned by the same loop ---------------------------------------

THROTTLE_WINDOW = timedelta(seconds=login_throttle.FAILURE_WINDOW_S)
_THROTTLE_INSERT = """
INSERT INTO login_throttle (email_digest, failures, last_failure_at, locked_until)
VALUES ($1, $2, now() - $3::interval, now() + $4::interval)
"""


async def throttle_row(
    pool: asyncpg.Pool, *, failures: int, failed_ago: timedelta, locked_for: timedelta | None
) -> bytes:
    """A throttle row for a fresh digest whose last failure was `failed_ago` ago and whose lock
    ends `locked_for` from now (negative: lapsed; None: never locked)."""
    digest = secrets.token_bytes(32)
    async with platform_tx(pool) as conn:
        await conn.execute(_THROTTLE_INSERT, digest, failures, failed_ago, locked_for)
    return digest


async def remaining(pool: asyncpg.Pool, digests: list[bytes]) -> set[bytes]:
    async with platform_tx(pool) as conn:
        rows = await conn.fetch(
            "SELECT email_digest FROM login_throttle WHERE email_digest = ANY($1::bytea[])",
            digests,
        )
    return {bytes(r["email_digest"]) for r in rows}


async def test_memory_actor_zero_prunes_lapsed_throttle_rows_and_keeps_live_ones(
    pg_urls: PgUrls,
    jwt_secret: str,
    app_pool: asyncpg.Pool,
    sim: OpenAIHttpSimulator,
    tmp_path: Path,
) -> None:
    hour = timedelta(hours=1)
    # A sprayed address: many failures, last one past the window, lock long over.
    stale = await throttle_row(
        app_pool, failures=40, failed_ago=THROTTLE_WINDOW + hour, locked_for=-THROTTLE_WINDOW
    )
    stale_unlocked = await throttle_row(
        app_pool, failures=2, failed_ago=THROTTLE_WINDOW + hour, locked_for=None
    )
    # Inside the window: still locked, or still counting towards a lock.
    locked = await throttle_row(app_pool, failures=9, failed_ago=hour, locked_for=hour / 2)
    counting = await throttle_row(app_pool, failures=2, failed_ago=hour, locked_for=None)
    # Past the window, but its lock has not ended: kept until it has.
    still_locked = await throttle_row(
        app_pool, failures=30, failed_ago=THROTTLE_WINDOW + hour, locked_for=hour
    )
    ours = [stale, stale_unlocked, locked, counting, still_locked]
    config = memory_config(
        pg_urls.app, jwt_secret, sim, retention_interval_s=0.2, recordings_dir=str(tmp_path)
    )
    actor = MemoryActor(config, 0)
    try:
        assert (await actor.check_health())["retention"] is True
        for _ in range(200):
            if stale not in await remaining(app_pool, ours):
                break
            await asyncio.sleep(0.05)
        assert await remaining(app_pool, ours) == {locked, counting, still_locked}
    finally:
        await actor.close()
    state = await login_throttle.throttle_state(
        app_pool, locked, window_s=login_throttle.FAILURE_WINDOW_S
    )
    assert state.failures == 9
    assert state.locked_until is not None
    counted = await login_throttle.throttle_state(
        app_pool, counting, window_s=login_throttle.FAILURE_WINDOW_S
    )
    assert counted.failures == 2


async def test_login_throttle_prune_goes_in_bounded_batches(app_pool: asyncpg.Pool) -> None:
    past = THROTTLE_WINDOW + timedelta(minutes=5)
    digests = [
        await throttle_row(app_pool, failures=6, failed_ago=past, locked_for=None) for _ in range(5)
    ]
    window_s = login_throttle.FAILURE_WINDOW_S
    assert await login_throttle.prune_batch(app_pool, window_s=window_s, limit=2) == 2
    assert len(await remaining(app_pool, digests)) == 3
    assert await login_throttle.prune(app_pool, window_s=window_s, batch=2) >= 3
    assert await remaining(app_pool, digests) == set()
    assert await login_throttle.prune(app_pool, window_s=window_s, batch=2) == 0
