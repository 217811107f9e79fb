"""Admin API numbers (prints them; not a test).

  python -m bench.admin_api [--calls 100000] [--requests 1000] [--logins 20] [--rounds 3]

Starts an embedded Postgres in a temporary directory, seeds one tenant with N calls (bulk, as
the superuser: COPY cannot go through row-level security) and 20 users, and serves the real
ingress app (webhooks + /api/v1) with uvicorn in a separate process on 127.0.0.1. Then:

- login: `--rounds` rounds of `--logins` logins started at once (20 different users, the real
  argon2id parameters); p50/p95 latency, and the server process's resident memory before and
  at its peak (VmHWM) during the logins;
- the agent settings endpoint (GET /agent, PATCH /agent) and the calls list (first page,
  filtered by caller, by outcome, transferred only, and a page 1000 pages deep through the
  cursor), `--requests` each at 8 at a time; p50/p99.

Only local traffic; bounded in count; stops by itself.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import random
import secrets
import shutil
import socket
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from engine.config import EngineConfig

PASSWORD = "benchmark passphrase for admins"  # noqa: S105 - throwaway users of a temp db
CALLERS = 2000


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _vm(pid: int, key: str) -> float:
    """VmRSS / VmHWM of a process, in MiB (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


class NullGateway:
    """TenantGateway of an ingress that serves the admin API and takes no calls."""

    async def reload(self, tenant_id: str) -> None:
        return None

    async def validate(self, *args: Any) -> bool:
        return False

    async def admit(self, *args: Any) -> Any:
        raise RuntimeError("no calls here")

    async def admit_test(self, *args: Any) -> Any:
        raise RuntimeError("no calls here")

    resume = admit

    async def release(self, *args: Any) -> None:
        return None

    async def return_caller(self, *args: Any) -> None:
        return None

    async def queue_wait(self, *args: Any) -> None:
        return None

    async def queue_left(self, *args: Any) -> None:
        return None

    async def fetch_recordings(self, *args: Any) -> None:
        return None

    async def delete_recording(self, *args: Any) -> None:
        return None

    async def pool_stats(self) -> dict[str, Any]:
        return {"warm": 0, "active": 0}


def _serve(app_url: str, jwt_secret: str, recordings: str, port: int) -> None:
    """The server process: the real ingress app, uvicorn, no access log."""
    import uvicorn

    from admin_api.app import build_app
    from admin_api.context import WebhookContext
    from admin_api.state import AdminState, AuthPolicy

    config = EngineConfig(
        app_database_url=app_url, jwt_secret=jwt_secret, recordings_dir=recordings
    )
    # One client IP sends every login here: lift the per-IP and per-account minute limits.
    policy = AuthPolicy(login_per_ip=100_000, login_per_account=100_000)
    app = build_app(WebhookContext(config, NullGateway()), AdminState(config, policy=policy))
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


async def _seed(superuser_url: str, app_url: str, calls: int, logins: int) -> tuple[str, list[str]]:
    from admin_api.passwords import Passwords
    from memory import tenant_admin, users
    from memory.audit import SYSTEM
    from memory.db import create_pool
    from memory.tenant_admin import TenantSpec

    pool = await create_pool(app_url, min_size=1, max_size=2)
    try:
        tenant = await tenant_admin.create_tenant(
            pool,
            TenantSpec("Bench Agency", "America/New_York", 50, {}, ("+15550199999",)),
            SYSTEM,
        )
        hashed = await Passwords().hash(PASSWORD)
        emails = []
        for i in range(logins):
            email = f"bench-{i}-{secrets.token_hex(3)}@agency.example"
            await users.create_user(
                pool, users.NewUser(tenant.tenant_id, email, "owner", hashed), SYSTEM
            )
            emails.append(email)
    finally:
        await pool.close()

    rng = random.Random(7)
    now = datetime.now(UTC)
    outcomes = ("caller_hung_up", "agent_ended", "transferred", "idle_timeout", "max_duration")
    tenant_uuid = uuid.UUID(tenant.tenant_id)
    rows = []
    for i in range(calls):
        started = now - timedelta(seconds=i * 30 + rng.random())
        outcome = rng.choices(outcomes, weights=(60, 25, 8, 5, 2))[0]
        rows.append(
            (
                tenant_uuid,
                "CA" + uuid.UUID(int=rng.getrandbits(128)).hex,
                f"+1555{rng.randrange(CALLERS):07d}",
                "+15550199999",
                started,
                started + timedelta(seconds=1),
                started + timedelta(seconds=90),
                outcome,
                61_000,
                "+15550001234" if outcome == "transferred" else None,
            )
        )
    conn = await asyncpg.connect(superuser_url)
    try:  # the superuser bypasses row-level security, which COPY FROM cannot go through
        await conn.copy_records_to_table(
            "calls",
            records=rows,
            columns=[
                "tenant_id",
                "call_sid",
                "from_number",
                "to_number",
                "started_at",
                "answered_at",
                "ended_at",
                "outcome",
                "duration_ms",
                "transferred_to",
            ],
        )
        await conn.execute("ANALYZE calls")
    finally:
        await conn.close()
    return tenant.tenant_id, emails


async def _timed(
    count: int, concurrency: int, request: Callable[[], Awaitable[httpx.Response]]
) -> list[float]:
    samples: list[float] = []
    remaining = count

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            began = time.perf_counter()
            response = await request()
            samples.append((time.perf_counter() - began) * 1000)
            if response.status_code >= 400:
                raise RuntimeError(f"{response.status_code}: {response.text[:200]}")

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return samples


def _report(name: str, samples: list[float]) -> None:
    print(
        f"{name:<38} n={len(samples):<5} p50={statistics.median(samples):7.1f} ms  "
        f"p95={_pct(samples, 0.95):7.1f} ms  p99={_pct(samples, 0.99):7.1f} ms"
    )


async def _measure(base: str, pid: int, emails: list[str], args: argparse.Namespace) -> None:
    api = f"{base}/api/v1"
    async with httpx.AsyncClient(timeout=60) as http:
        # Logins: 20 at once, `rounds` times.
        rss_before = _vm(pid, "VmRSS")
        login_ms: list[float] = []
        token = ""
        for _ in range(args.rounds):

            async def login(email: str) -> tuple[float, str]:
                began = time.perf_counter()
                response = await http.post(
                    f"{api}/auth/login", json={"email": email, "password": PASSWORD}
                )
                response.raise_for_status()
                return (time.perf_counter() - began) * 1000, response.json()["access_token"]

            results = await asyncio.gather(*(login(e) for e in emails))
            login_ms += [ms for ms, _ in results]
            token = results[0][1]
        peak = _vm(pid, "VmHWM")
        print(f"server RSS before logins {rss_before:.0f} MiB, peak during logins {peak:.0f} MiB")
        _report(f"login ({len(emails)} in parallel)", login_ms)

        alone: list[float] = []
        for email in emails[:10]:
            began = time.perf_counter()
            (await http.post(f"{api}/auth/login", json={"email": email, "password": PASSWORD}))
            alone.append((time.perf_counter() - began) * 1000)
        _report("login (one at a time)", alone)

        headers = {"Authorization": f"Bearer {token}"}
        names = ["Ava", "Riley"]

        def patch() -> Awaitable[httpx.Response]:
            names.reverse()
            return http.patch(f"{api}/agent", headers=headers, json={"agent_name": names[0]})

        calls = f"{api}/calls"
        cursor = None
        for _ in range(min(1000, args.calls // 50 - 1)):  # walk 1000 pages deep
            response = await http.get(
                calls, headers=headers, params={"cursor": cursor} if cursor else {}
            )
            cursor = response.json()["next_cursor"]
        day_ago = datetime.now(UTC) - timedelta(days=10)
        cases: list[tuple[str, dict[str, Any]]] = [
            ("GET /calls (first page of 50)", {}),
            ("GET /calls?caller=...", {"caller": "+15550000042"}),
            ("GET /calls?outcome=transferred", {"outcome": "transferred"}),
            ("GET /calls?transferred=true", {"transferred": "true"}),
            (
                "GET /calls?since=..&until=.. (1 day)",
                {"since": day_ago.isoformat(), "until": (day_ago + timedelta(days=1)).isoformat()},
            ),
            ("GET /calls (page 1000, by cursor)", {"cursor": cursor} if cursor else {}),
        ]
        n = args.requests
        for concurrency, count in ((1, max(100, n // 4)), (8, n)):
            print(f"-- {concurrency} request(s) at a time")
            _report(
                "GET /agent",
                await _timed(count, concurrency, lambda: http.get(f"{api}/agent", headers=headers)),
            )
            _report("PATCH /agent", await _timed(count // 4, concurrency, patch))
            for name, params in cases:

                def get(p: dict[str, Any] = params) -> Awaitable[httpx.Response]:
                    return http.get(calls, headers=headers, params=p)

                _report(name, await _timed(count, concurrency, get))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--logins", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    from memory.embedded import bootstrap, start_embedded
    from memory.migrate import migrate

    root = Path(tempfile.mkdtemp(prefix="neurosphere-bench-admin-"))
    server, urls = start_embedded(root, cleanup="delete")
    superuser = str(server.get_uri())
    process: multiprocessing.process.BaseProcess | None = None
    try:
        asyncio.run(bootstrap(superuser))
        asyncio.run(migrate(urls.owner))
        began = time.monotonic()
        db_superuser = superuser.replace("/postgres?", "/neurosphere?", 1)
        tenant_id, emails = asyncio.run(_seed(db_superuser, urls.app, args.calls, args.logins))
        print(
            f"seeded {args.calls} calls and {args.logins} users in {time.monotonic() - began:.1f} s"
        )
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        sock.close()
        jwt_secret = secrets.token_urlsafe(48)
        ctx = multiprocessing.get_context("spawn")
        process = ctx.Process(
            target=_serve, args=(urls.app, jwt_secret, str(root / "recordings"), port)
        )
        process.start()
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/api/v1/openapi.json", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("server did not start")
            time.sleep(0.2)
        print(f"tenant {tenant_id}; server pid {process.pid}; {os.cpu_count()} cores")
        assert process.pid is not None
        asyncio.run(_measure(base, process.pid, emails, args))
    finally:
        if process is not None:
            process.terminate()
            process.join(10)
        server.cleanup()
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
