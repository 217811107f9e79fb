"""`neurosphere db ...`: the database - bootstrap on any Postgres, migrations and their status,
the retention purge, re-sealing tenant secrets after the engine secret changed. I/O: Postgres
(and stdin, for the previous engine secret)."""

from __future__ import annotations

import argparse
import asyncio
import secrets
import sys
from typing import TYPE_CHECKING

import asyncpg

from engine.cli import common
from engine.settings import Settings

if TYPE_CHECKING:
    from memory.embedded import Roles
    from memory.migrate import MigrationState


def cmd_bootstrap(args: argparse.Namespace) -> int:
    """Roles, grants, database and the vector extension on an ordinary Postgres, given its
    admin URL once; prints the two URLs the engine then runs with."""
    from memory import embedded

    roles = embedded.Roles.named(common.settings().db_role_prefix)
    passwords = {roles.owner: secrets.token_urlsafe(24), roles.app: secrets.token_urlsafe(24)}
    try:
        created = asyncio.run(embedded.bootstrap(args.admin_url, passwords=passwords, roles=roles))
    except (OSError, asyncpg.PostgresError) as exc:
        common.err(f"error: bootstrap failed: {exc}")
        return 2
    common.out(f"database {embedded.DATABASE} ready; roles created: {', '.join(created) or 'none'}")
    for variable, role in (
        ("DATABASE_URL", roles.owner),
        ("NEUROSPHERE_APP_DATABASE_URL", roles.app),
    ):
        password = passwords[role] if role in created else None
        url = embedded.database_url(args.admin_url, role=role, password=password)
        note = "" if password else "  # existing role: its password is unchanged"
        common.out(f"{variable}={url}{note}")
    common.out("then: neurosphere db migrate")
    return 0


async def _owner_url(settings: Settings) -> tuple[str, Roles, object]:
    """The owner role's URL and the roles' names (DATABASE_URL's with NEUROSPHERE_DB_ROLE_PREFIX,
    or the embedded server's, started and bootstrapped, with the default names)."""
    from memory import embedded

    if settings.database_url is not None:
        roles = embedded.Roles.named(settings.db_role_prefix)
        return settings.database_url.get_secret_value(), roles, None
    server, urls = await asyncio.to_thread(embedded.start_embedded, settings.data_dir)
    await embedded.bootstrap(str(server.get_uri()))
    return urls.owner, embedded.DEFAULT_ROLES, server


def cmd_migrate(args: argparse.Namespace) -> int:
    from memory.migrate import MigrationChanged, migrate

    settings = common.settings()

    async def run() -> list[int]:
        owner, roles, _server = await _owner_url(settings)
        return await migrate(owner, engine_secret=settings.resolved_jwt_secret(), roles=roles)

    try:
        applied = asyncio.run(run())
    except MigrationChanged as exc:
        common.err(f"error: {exc}")
        return 1
    common.out(f"applied {len(applied)} migration(s); the database is up to date")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    """Every migration: applied (when, checksum), pending, or changed since it was applied
    (exit 1: migrate refuses to run)."""
    from memory.migrate import status

    settings = common.settings()

    async def run() -> list[MigrationState]:
        owner, _roles, _server = await _owner_url(settings)
        return await status(owner)

    states = asyncio.run(run())
    for s in states:
        when = s.applied_at.isoformat(timespec="seconds") if s.applied_at else "-"
        common.out(f"{s.version:04d} {s.name:<24} {s.state:<8} {when:<25} sha256:{s.checksum[:16]}")
    changed = [s for s in states if s.state == "changed"]
    pending = [s for s in states if s.state == "pending"]
    common.out(
        f"{len(states) - len(pending) - len(changed)} applied, {len(pending)} pending, "
        f"{len(changed)} changed since applied"
    )
    if changed:
        common.err(
            "error: an applied migration was changed; `neurosphere db migrate` refuses to run"
        )
        return 1
    return 0


def cmd_reseal(args: argparse.Namespace) -> int:
    """Re-seal every tenant secret under the current NEUROSPHERE_JWT_SECRET; the previous one is
    read from stdin (never an argument: it would show in the process list and shell history)."""
    from memory.secret_seal import reseal

    settings = common.settings()
    previous = sys.stdin.readline().strip()
    if len(previous) < 32:
        common.err("error: give the previous engine secret (32+ characters) on stdin")
        return 2
    current = settings.resolved_jwt_secret()
    if previous == current:
        common.err("error: the previous engine secret is the current one: nothing to rotate")
        return 2

    async def run() -> int:
        owner, roles, _server = await _owner_url(settings)
        done = await reseal(owner, previous_secret=previous, engine_secret=current, roles=roles)
        common.out(
            f"re-sealed {done.resealed} secret(s); {done.current} already under the current key; "
            f"{done.unreadable} unreadable with either key"
        )
        return 1 if done.unreadable else 0

    return asyncio.run(run())


def cmd_purge(args: argparse.Namespace) -> int:
    """Run the retention purge once (what memory actor 0 does every hour) and print per-tenant
    counts; exit 1 when a tenant failed (what committed before stays deleted)."""
    from memory import retention
    from memory.recording_files import RecordingStore

    settings = common.settings()
    if args.batch_size < 1:
        common.err("error: --batch-size must be at least 1")
        return 2
    files = RecordingStore((settings.recordings_dir or settings.data_dir / "recordings").resolve())

    async def run() -> list[retention.TenantPurge]:
        async with common.app_pool(settings) as pool:
            return await retention.purge_all(pool, files.remove_many, batch_size=args.batch_size)

    results = asyncio.run(run())
    for result in results:
        if result.counts.calls or result.failed:
            counts = " ".join(f"{k}={v}" for k, v in result.counts.as_dict().items())
            status = " FAILED" if result.failed else ""
            common.out(
                f"tenant {result.tenant_id} ({result.retention_days} days): {counts}{status}"
            )
    total = sum((r.counts for r in results), retention.PurgeCounts())
    common.out(
        f"purged {len(results)} tenant(s): "
        + " ".join(f"{k}={v}" for k, v in total.as_dict().items())
    )
    return 1 if any(r.failed for r in results) else 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    db = sub.add_parser("db", help="the database: migrations, retention purge")
    actions = db.add_subparsers(dest="action", required=True)
    bootstrap = actions.add_parser(
        "bootstrap",
        help="create the roles, grants, database and vector extension on an ordinary Postgres "
        "(once, as its admin); prints DATABASE_URL and NEUROSPHERE_APP_DATABASE_URL",
    )
    bootstrap.add_argument(
        "--admin-url",
        required=True,
        help="a superuser's URL, e.g. postgresql://postgres:PASSWORD@db:5432/postgres",
    )
    bootstrap.set_defaults(func=cmd_bootstrap)
    actions.add_parser("migrate", help="apply the migrations not applied yet").set_defaults(
        func=cmd_migrate
    )
    actions.add_parser(
        "status", help="applied and pending migrations with checksums; exit 1 if one was changed"
    ).set_defaults(func=cmd_status)
    actions.add_parser(
        "reseal",
        help="after changing NEUROSPHERE_JWT_SECRET: re-seal tenant secrets under it (the "
        "previous secret on stdin); exit 1 if one opens with neither key",
    ).set_defaults(func=cmd_reseal)
    purge = actions.add_parser("purge", help="delete calls past each tenant's retention, once")
    purge.add_argument(
        "--batch-size", type=int, default=500, help="calls deleted per transaction (500)"
    )
    purge.set_defaults(func=cmd_purge)
