"""`neurosphere db ...`: the database - migrations and the retention purge. I/O: Postgres."""

from __future__ import annotations

import argparse
import asyncio

from engine.cli import common


def cmd_migrate(args: argparse.Namespace) -> int:
    settings = common.settings()

    async def run() -> None:
        async with common.app_pool(settings):
            pass

    asyncio.run(run())
    common.out("database is up to date")
    return 0


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
    actions.add_parser("migrate", help="apply the migrations not applied yet").set_defaults(
        func=cmd_migrate
    )
    purge = actions.add_parser("purge", help="delete calls past each tenant's retention, once")
    purge.add_argument(
        "--batch-size", type=int, default=500, help="calls deleted per transaction (500)"
    )
    purge.set_defaults(func=cmd_purge)
