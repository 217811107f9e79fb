"""`neurosphere call`: a simulated call against a running engine (found through the runtime
file `serve` writes), and what the caller heard. I/O: HTTP, WebSockets, the database."""

from __future__ import annotations

import argparse
import asyncio
import json

from engine.cli import common


def cmd_call(args: argparse.Namespace) -> int:
    from engine.cli import scenario

    settings = common.settings()
    runtime_file = settings.data_dir / "runtime.json"
    if not runtime_file.exists():
        common.err(
            f"error: no running engine found ({runtime_file} missing): start `neurosphere serve`"
        )
        return 2
    runtime = json.loads(runtime_file.read_text())
    lines = tuple(args.say) or scenario.DEMO_LINES[:1]

    async def run() -> scenario.CallReportView | None:
        from engine.cli.runtime import prepare_database
        from engine.secret_box import TWILIO_LABEL, SecretBox
        from memory import tenants
        from memory.db import create_pool

        database = await prepare_database(settings)
        pool = await create_pool(database.app_url, min_size=1, max_size=2)
        try:
            tenant_id = await tenants.resolve_number(pool, args.to)
            box = SecretBox(settings.resolved_jwt_secret(), TWILIO_LABEL)
            config = await tenants.load_config(pool, tenant_id, tokens=box) if tenant_id else None
        finally:
            await pool.close()
        if tenant_id is None or config is None:
            return None
        token = config.twilio_auth_token or (
            settings.twilio_auth_token.get_secret_value() if settings.twilio_auth_token else ""
        )
        if runtime.get("simulated_model"):
            replies = tuple(f"I heard you say: {line}" for line in lines)
            await scenario.register_lines(runtime["realtime_base_url"], args.from_, lines, replies)
        return await scenario.place_and_read(
            webhook_base=runtime["webhook_base"],
            public_base_url=runtime["public_base_url"],
            auth_token=token,
            app_database_url=database.app_url,
            tenant_id=tenant_id,
            from_number=args.from_,
            to_number=args.to,
            lines=lines,
        )

    view = asyncio.run(run())
    if view is None:
        common.err(f"error: {args.to} is not provisioned (neurosphere tenant add)")
        return 2
    common.out(scenario.render(view))
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    call = sub.add_parser("call", help="place a simulated call against a running engine")
    call.add_argument(
        "--to", required=True, type=common.e164, help="the tenant's number to dial (E.164)"
    )
    call.add_argument(
        "--from",
        dest="from_",
        default=common.DEMO_CALLER,
        type=common.e164,
        help=f"the caller's number (E.164; {common.DEMO_CALLER})",
    )
    call.add_argument(
        "--say", action="append", default=[], help="what the caller says, one line; repeat"
    )
    call.set_defaults(func=cmd_call)
