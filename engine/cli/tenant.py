"""`neurosphere tenant add|list`: provision tenants and see them. I/O: the database."""

from __future__ import annotations

import argparse
import asyncio

from engine.cli import common
from engine.config import REALTIME_VOICES


def cmd_add(args: argparse.Namespace) -> int:
    settings = common.settings()
    if args.voice not in REALTIME_VOICES:
        common.err(f"error: --voice must be one of {', '.join(REALTIME_VOICES)}")
        return 2

    async def run() -> str:
        from engine.secret_box import TWILIO_LABEL, SecretBox
        from memory import tenants

        async with common.app_pool(settings) as pool:
            new = tenants.NewTenant(
                name=args.name,
                numbers=tuple(args.number),
                agent_name=args.agent_name,
                voice=args.voice,
                greeting_new=args.greeting,
                twilio_account_sid=args.twilio_account_sid,
                twilio_auth_token=args.twilio_auth_token,
                max_concurrent_calls=args.max_calls,
                time_zone=args.time_zone,
            )
            box = SecretBox(settings.resolved_jwt_secret(), TWILIO_LABEL)
            return await tenants.create_tenant(pool, new, tokens=box)

    try:
        tenant_id = asyncio.run(run())
    except ValueError as exc:
        common.err(f"error: {exc}")
        return 2
    common.out(f"tenant {tenant_id} created with number(s) {', '.join(args.number)}")
    if not args.twilio_auth_token and not settings.twilio_auth_token:
        common.out(
            "warning: no --twilio-auth-token and no TWILIO_AUTH_TOKEN: webhooks cannot be verified"
        )
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    settings = common.settings()

    async def run() -> list[str]:
        from memory.tenant_admin import list_tenants

        lines: list[str] = []
        after: str | None = None
        async with common.app_pool(settings) as pool:
            while True:
                page = await list_tenants(pool, after=after, limit=200, status=None)
                lines += [
                    f"{t.tenant_id}  {t.status:<9} max {t.max_concurrent_calls:<4} "
                    f"{','.join(t.numbers) or '-':<16}  {t.name}"
                    for t in page
                ]
                if len(page) < 200:
                    return lines
                after = page[-1].tenant_id

    lines = asyncio.run(run())
    for line in lines:
        common.out(line)
    common.out(f"{len(lines)} tenant(s)")
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    tenant = sub.add_parser("tenant", help="agencies (tenants) and their phone numbers")
    actions = tenant.add_subparsers(dest="action", required=True)
    add = actions.add_parser("add", help="provision a tenant and its phone number(s)")
    add.add_argument("--name", required=True, help="the agency's name, as callers know it")
    add.add_argument(
        "--number",
        required=True,
        action="append",
        type=common.e164,
        help="a Twilio number of the agency, E.164 (+15551234567); repeat for more",
    )
    add.add_argument(
        "--twilio-auth-token",
        help="the auth token of the agency's own Twilio account (unset: TWILIO_AUTH_TOKEN)",
    )
    add.add_argument(
        "--twilio-account-sid",
        help="the agency's own Twilio account SID (unset: TWILIO_ACCOUNT_SID)",
    )
    add.add_argument("--agent-name", default="Ava", help="what the agent calls itself (Ava)")
    add.add_argument(
        "--voice",
        default="marin",
        help=f"the agent's voice, one of {', '.join(REALTIME_VOICES)} (marin)",
    )
    add.add_argument(
        "--greeting",
        help="new-caller greeting template ({time_greeting} and {agent_name} are filled in)",
    )
    add.add_argument(
        "--max-calls", type=int, default=10, help="calls at once before callers are refused (10)"
    )
    add.add_argument(
        "--time-zone", default="America/New_York", help="IANA time zone (America/New_York)"
    )
    add.set_defaults(func=cmd_add)
    listing = actions.add_parser("list", help="every tenant: id, status, call cap, numbers, name")
    listing.set_defaults(func=cmd_list)
