"""Numbered SQL migrations, applied in order under an advisory lock. I/O: asyncpg.

Migrations are `memory/migrations/NNNN_name.sql`, each run once in its own transaction as the
owner role. Afterwards the app role gets table privileges (and nothing else: it owns nothing).
The ledger keeps each applied migration's SHA-256: a migration changed after it was applied is
refused (MigrationChanged) before anything runs; `status` lists what is applied and pending.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime
from importlib import resources

import asyncpg
import structlog

from memory.embedded import DEFAULT_ROLES, Roles
from memory.secret_seal import seal_plaintext_tokens

log = structlog.get_logger(__name__)

_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
_LOCK_KEY = 0x4E455552  # "NEUR"

_CREATE_LEDGER = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    integer PRIMARY KEY,
    name       text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE schema_migrations ADD COLUMN IF NOT EXISTS checksum text
"""
_LEDGER = "SELECT version, checksum, applied_at FROM schema_migrations"
_LEDGER_EXISTS = "SELECT to_regclass('schema_migrations') IS NOT NULL"
_BACKFILL = "UPDATE schema_migrations SET checksum = $2 WHERE version = $1 AND checksum IS NULL"
_RECORD = "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)"


class MigrationChanged(RuntimeError):
    """An applied migration's file no longer has the checksum it was applied with."""


@dataclass(frozen=True, slots=True)
class MigrationState:
    version: int
    name: str
    checksum: str  # of the packaged file
    applied_at: datetime | None
    state: str  # "applied", "pending" or "changed" (applied with another checksum)


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()

    @property
    def label(self) -> str:
        return f"{self.version:04d}_{self.name}"


def load_migrations() -> list[Migration]:
    """All packaged migrations, in version order. Refuses gaps and duplicates."""
    found: list[Migration] = []
    for entry in (resources.files("memory") / "migrations").iterdir():
        match = _NAME.match(entry.name)
        if match:
            found.append(Migration(int(match[1]), match[2], entry.read_text()))
    found.sort(key=lambda m: m.version)
    for expected, migration in enumerate(found, start=1):
        if migration.version != expected:
            raise RuntimeError(f"migration {expected:04d} is missing or duplicated")
    return found


async def migrate(
    owner_url: str, *, engine_secret: str | None = None, roles: Roles = DEFAULT_ROLES
) -> list[int]:
    """Apply pending migrations; returns the versions applied now. With the engine secret,
    tenant secrets earlier versions kept in plaintext are then sealed (memory.secret_seal).
    The migrations name the default roles; `roles` are put in their place as each runs (the
    checksums stay those of the files)."""
    conn = await asyncpg.connect(owner_url, timeout=10, command_timeout=120)
    applied: list[int] = []
    try:
        await conn.execute("SELECT pg_advisory_lock($1)", _LOCK_KEY)
        try:
            await conn.execute(_CREATE_LEDGER)
            migrations = load_migrations()
            states = _states(migrations, await conn.fetch(_LEDGER))
            changed = [s for s in states if s.state == "changed"]
            if changed:
                raise MigrationChanged(
                    "applied migration(s) changed since: "
                    + ", ".join(f"{s.version:04d}_{s.name}" for s in changed)
                    + " (restore the file as applied, or add a new migration instead)"
                )
            done = {s.version for s in states if s.state == "applied"}
            await conn.executemany(  # ledgers from before checksums: recorded as they are now
                _BACKFILL,
                [(m.version, m.checksum) for m in migrations if m.version in done],
            )
            for migration in migrations:
                if migration.version in done:
                    continue
                async with conn.transaction():
                    await conn.execute(roles.apply(migration.sql))
                    await conn.execute(
                        _RECORD,
                        migration.version,
                        migration.name,
                        migration.checksum,
                    )
                applied.append(migration.version)
                log.info("migration_applied", version=migration.version, name=migration.name)
            if engine_secret is not None:
                async with conn.transaction():
                    await seal_plaintext_tokens(conn, engine_secret, roles)
            await conn.execute(
                f"""
                GRANT USAGE ON SCHEMA public TO {roles.app};
                GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {roles.app};
                REVOKE ALL ON schema_migrations FROM {roles.app};
                """
            )
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", _LOCK_KEY)
    finally:
        await conn.close()
    return applied


def _states(migrations: list[Migration], ledger: list[asyncpg.Record]) -> list[MigrationState]:
    applied = {r["version"]: r for r in ledger}
    states: list[MigrationState] = []
    for m in migrations:
        row = applied.get(m.version)
        if row is None:
            state = "pending"
        elif row["checksum"] is not None and row["checksum"] != m.checksum:
            state = "changed"
        else:
            state = "applied"
        at = row["applied_at"] if row is not None else None
        states.append(MigrationState(m.version, m.name, m.checksum, at, state))
    return states


async def status(owner_url: str) -> list[MigrationState]:
    """Every packaged migration: applied (with when), pending, or changed since it was applied.
    Reads only."""
    conn = await asyncpg.connect(owner_url, timeout=10, command_timeout=30)
    try:
        ledger = await conn.fetch(_LEDGER) if await conn.fetchval(_LEDGER_EXISTS) else []
    finally:
        await conn.close()
    return _states(load_migrations(), ledger)
