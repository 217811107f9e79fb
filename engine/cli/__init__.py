"""The `neurosphere` command line (I/O: everything; this is the driver).

neurosphere demo                      start everything offline, place one call, print it
neurosphere serve                     run the engine for real Twilio traffic
neurosphere tenant add --name --number +1...  provision a tenant and its number
neurosphere call --to +1... [--say ...]       a simulated call against a running engine
neurosphere db migrate                apply database migrations
neurosphere db purge [--batch-size N] delete calls past each tenant's retention, print counts
neurosphere admin create --email E    create a platform admin (password prompted, or stdin)
neurosphere sim realtime --port P     run the offline realtime simulator alone
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import json
import re
import signal
import sys
import threading
import time

from engine.config import REALTIME_VOICES
from engine.logs import configure
from engine.settings import Settings

E164 = re.compile(r"^\+[1-9]\d{6,14}$")
DEMO_NUMBER = "+15550109999"
DEMO_CALLER = "+15550100001"


def _out(text: str = "") -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def _e164(value: str) -> str:
    if not E164.match(value):
        raise argparse.ArgumentTypeError(f"{value!r} is not an E.164 number like +15551234567")
    return value


def _settings() -> Settings:
    settings = Settings.model_validate({})
    configure(settings.log_format, redact=settings.env == "production")
    return settings


async def _app_pool_url(settings: Settings) -> tuple[str, object]:
    """The app-role URL of the database (starting or attaching to the embedded one)."""
    from engine.cli.runtime import prepare_database

    database = await prepare_database(settings)
    return database.app_url, database.server


# --- tenants -----------------------------------------------------------------------------------


def cmd_tenant_add(args: argparse.Namespace) -> int:
    settings = _settings()
    if args.voice not in REALTIME_VOICES:
        raise SystemExit(f"--voice must be one of {', '.join(REALTIME_VOICES)}")

    async def run() -> str:
        from memory import tenants
        from memory.db import create_pool

        app_url, _server = await _app_pool_url(settings)
        pool = await create_pool(app_url, min_size=1, max_size=2)
        try:
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
            return await tenants.create_tenant(pool, new)
        finally:
            await pool.close()

    try:
        tenant_id = asyncio.run(run())
    except ValueError as exc:
        _out(f"error: {exc}")
        return 2
    _out(f"tenant {tenant_id} created with number(s) {', '.join(args.number)}")
    if not args.twilio_auth_token and not settings.twilio_auth_token:
        _out(
            "warning: no --twilio-auth-token and no TWILIO_AUTH_TOKEN: webhooks cannot be verified"
        )
    return 0


# --- serve / demo --------------------------------------------------------------------------------


def cmd_serve(args: argparse.Namespace) -> int:
    from engine.cli.runtime import start_engine

    settings = _settings()
    if settings.openai_api_key is None:
        _out("!" * 78)
        _out("!! OPENAI_API_KEY is not set: calls go to the OFFLINE REALTIME SIMULATOR.")
        _out("!! Callers will hear synthetic audio, not a real AI agent.")
        _out("!" * 78)
    engine = start_engine(settings, dashboard=not args.no_dashboard)
    _out(
        f"Webhook URL for your Twilio number (A call comes in): "
        f"{settings.public_base_url}/twilio/voice"
    )
    _out(f"Status callback URL: {settings.public_base_url}/twilio/status")
    _out(f"Listening on {engine.webhook_base}; health at {engine.webhook_base}/healthz")
    if engine.dashboard_url:
        _out(f"Ray dashboard (localhost only): {engine.dashboard_url}")
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    stop.wait()
    _out("shutting down")
    engine.stop()
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from engine.cli import scenario
    from engine.cli.runtime import start_engine
    from memory import tenants

    settings = _settings()
    began = time.monotonic()
    engine = start_engine(settings)
    _out(
        f"engine up in {time.monotonic() - began:.1f} s (Ray, Serve, Postgres, "
        f"{engine.config.warm_calls} warm call actors)"
    )
    try:
        tenant_id, token = asyncio.run(
            tenants.ensure_tenant(
                engine.database.app_url,
                name="Demo Insurance Agency",
                number=DEMO_NUMBER,
                auth_token=None,
                agent_name="Ava",
            )
        )

        engine.warm_tenants()

        async def call() -> scenario.CallReportView:
            if engine.simulator is not None:
                await scenario.register_lines(
                    engine.config.openai_base_url,
                    DEMO_CALLER,
                    scenario.DEMO_LINES,
                    scenario.DEMO_REPLIES,
                )
            return await scenario.place_and_read(
                webhook_base=engine.webhook_base,
                public_base_url=engine.config.public_base_url,
                auth_token=token,
                app_database_url=engine.database.app_url,
                tenant_id=tenant_id,
                from_number=DEMO_CALLER,
                to_number=DEMO_NUMBER,
                lines=scenario.DEMO_LINES,
            )

        view = asyncio.run(call())
        _out(scenario.render(view))
        ok = (
            view.record is not None and view.record.outcome == "caller_hung_up" and bool(view.turns)
        )
    finally:
        engine.stop()
    return 0 if ok else 1


def cmd_call(args: argparse.Namespace) -> int:
    from engine.cli import scenario

    settings = _settings()
    runtime_file = settings.data_dir / "runtime.json"
    if not runtime_file.exists():
        _out(f"no running engine found ({runtime_file} missing): start `neurosphere serve`")
        return 2
    runtime = json.loads(runtime_file.read_text())
    lines = tuple(args.say) or scenario.DEMO_LINES[:1]

    async def run() -> scenario.CallReportView:
        from memory import tenants
        from memory.db import create_pool

        app_url, _server = await _app_pool_url(settings)
        pool = await create_pool(app_url, min_size=1, max_size=2)
        try:
            tenant_id = await tenants.resolve_number(pool, args.to)
            config = await tenants.load_config(pool, tenant_id) if tenant_id else None
        finally:
            await pool.close()
        if tenant_id is None or config is None:
            raise SystemExit(f"{args.to} is not provisioned (neurosphere tenant add)")
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
            app_database_url=app_url,
            tenant_id=tenant_id,
            from_number=args.from_,
            to_number=args.to,
            lines=lines,
        )

    view = asyncio.run(run())
    _out(scenario.render(view))
    return 0


def cmd_db_migrate(args: argparse.Namespace) -> int:
    settings = _settings()

    async def run() -> None:
        await _app_pool_url(settings)

    asyncio.run(run())
    _out("database is up to date")
    return 0


def cmd_db_purge(args: argparse.Namespace) -> int:
    """Run the retention purge once (what memory actor 0 does every hour) and print per-tenant
    counts; exit 1 when a tenant failed (what committed before stays deleted)."""
    from admin_api.recording_files import RecordingFiles
    from memory import retention
    from memory.db import create_pool

    settings = _settings()
    if args.batch_size < 1:
        _out("error: --batch-size must be at least 1")
        return 2
    files = RecordingFiles((settings.recordings_dir or settings.data_dir / "recordings").resolve())

    async def run() -> list[retention.TenantPurge]:
        app_url, _server = await _app_pool_url(settings)
        pool = await create_pool(app_url, min_size=1, max_size=2)
        try:
            return await retention.purge_all(pool, files.remove_many, batch_size=args.batch_size)
        finally:
            await pool.close()

    results = asyncio.run(run())
    for result in results:
        if result.counts.calls or result.failed:
            counts = " ".join(f"{k}={v}" for k, v in result.counts.as_dict().items())
            status = " FAILED" if result.failed else ""
            _out(f"tenant {result.tenant_id} ({result.retention_days} days): {counts}{status}")
    total = sum((r.counts for r in results), retention.PurgeCounts())
    _out(
        f"purged {len(results)} tenant(s): "
        + " ".join(f"{k}={v}" for k, v in total.as_dict().items())
    )
    return 1 if any(r.failed for r in results) else 0


# --- admin accounts ------------------------------------------------------------------------------

EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,190}\.[^@\s]{1,60}$")


def _read_password() -> str:
    """Prompted twice on a terminal (never echoed); otherwise the first line of stdin."""
    if sys.stdin.isatty():
        first = getpass.getpass("Password: ")
        if getpass.getpass("Repeat password: ") != first:
            raise SystemExit("error: the passwords do not match")
        return first
    return sys.stdin.readline().rstrip("\r\n")


def cmd_admin_create(args: argparse.Namespace) -> int:
    """Create a platform admin: there are no default accounts, this is how the first one
    comes to be."""
    from admin_api.passwords import PasswordRejected, Passwords, check_policy
    from memory.users import EmailTaken

    settings = _settings()
    email = args.email.strip().lower()
    if not EMAIL.match(email):
        _out(f"error: {args.email!r} is not an email address")
        return 2
    try:
        password = check_policy(_read_password(), email=email)
    except PasswordRejected as exc:
        _out(f"error: {exc}")
        return 2

    async def run() -> str:
        from memory import users
        from memory.audit import Actor
        from memory.db import create_pool

        app_url, _server = await _app_pool_url(settings)
        pool = await create_pool(app_url, min_size=1, max_size=2)
        try:
            if await users.find_login(pool, email) is not None:
                raise EmailTaken("an account with this email already exists")
            new = users.NewUser(
                tenant_id=None,
                email=email,
                role="platform_admin",
                password_hash=await Passwords().hash(password),
            )
            created = await users.create_user(pool, new, Actor(None, "cli"))
            return created.user_id
        finally:
            await pool.close()

    try:
        user_id = asyncio.run(run())
    except EmailTaken as exc:
        _out(f"error: {exc}")
        return 2
    _out(f"platform admin {email} created (user {user_id}); log in at /api/v1/auth/login")
    return 0


def cmd_sim_realtime(args: argparse.Namespace) -> int:
    from engine.sim.realtime import run_standalone

    _settings()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run_standalone(args.port, args.host))
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from bench.__main__ import main as bench_main

    code: int = bench_main(list(args.rest))
    return code


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="neurosphere", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="start offline, place one simulated call, print it")
    demo.set_defaults(func=cmd_demo)

    serve = sub.add_parser("serve", help="run the engine for real Twilio traffic")
    serve.add_argument("--no-dashboard", action="store_true", help="do not start the Ray dashboard")
    serve.set_defaults(func=cmd_serve)

    tenant = sub.add_parser("tenant", help="tenants").add_subparsers(dest="action", required=True)
    add = tenant.add_parser("add", help="provision a tenant and its phone number(s)")
    add.add_argument("--name", required=True)
    add.add_argument("--number", required=True, action="append", type=_e164)
    add.add_argument("--twilio-auth-token")
    add.add_argument("--twilio-account-sid")
    add.add_argument("--agent-name", default="Ava")
    add.add_argument("--voice", default="marin")
    add.add_argument("--greeting", help="new-caller greeting template")
    add.add_argument("--max-calls", type=int, default=10)
    add.add_argument("--time-zone", default="America/New_York")
    add.set_defaults(func=cmd_tenant_add)

    call = sub.add_parser("call", help="place a simulated call against a running engine")
    call.add_argument("--to", required=True, type=_e164)
    call.add_argument("--from", dest="from_", default=DEMO_CALLER, type=_e164)
    call.add_argument("--say", action="append", default=[], help="what the caller says (repeat)")
    call.set_defaults(func=cmd_call)

    bench = sub.add_parser("bench", help="benchmarks (calls, ramp, memory); see bench/README.md")
    bench.add_argument("rest", nargs=argparse.REMAINDER)
    bench.set_defaults(func=cmd_bench)

    db = sub.add_parser("db", help="database").add_subparsers(dest="action", required=True)
    db.add_parser("migrate", help="apply migrations").set_defaults(func=cmd_db_migrate)
    purge = db.add_parser("purge", help="delete calls past each tenant's retention, once")
    purge.add_argument("--batch-size", type=int, default=500, help="calls per transaction")
    purge.set_defaults(func=cmd_db_purge)

    admin = sub.add_parser("admin", help="admin accounts").add_subparsers(
        dest="action", required=True
    )
    create = admin.add_parser(
        "create", help="create a platform admin (password prompted, or read from stdin)"
    )
    create.add_argument("--email", required=True)
    create.set_defaults(func=cmd_admin_create)

    sim = sub.add_parser("sim", help="simulators").add_subparsers(dest="kind", required=True)
    realtime = sim.add_parser("realtime", help="run the offline realtime simulator")
    realtime.add_argument("--port", type=int, default=8765)
    realtime.add_argument("--host", default="127.0.0.1")
    realtime.set_defaults(func=cmd_sim_realtime)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
