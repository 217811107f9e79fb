"""`neurosphere serve` as an operator runs it, one process for the module (about 40 s here):

- the local Ray it starts (no RAY_ADDRESS) listens on loopback only: its GCS, raylet, object
  manager, dashboard and its agents (metrics export included), and every worker's and actor's
  gRPC server. Every listening socket of it and the processes under it is read from the kernel
  (psutil);
- `serve --port` prints the real URLs, and the actors' log lines reach its stderr as JSON, one
  event a line, none folded into another;
- SIGTERM with a call on the line: the call goes on until the drain's bound, is ended with its
  outcome recorded, and `serve` exits cleanly.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx
import psutil
import pytest

from engine.secret_box import TWILIO_LABEL, SecretBox
from engine.sim.twilio_caller import CallScript, HangUp, Pause, TwilioCaller, WaitForAgent
from memory import calls, tenants
from memory.db import create_pool
from tests.cluster.ports import LOOPBACK_MEDIA, env_range
from tests.conftest import PgUrls

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(300)]

TOKEN = "serve-auth-token"
SECRET = "serve-jwt-secret-" + "s" * 32
MEMORY_ACTORS = 3  # each logs the same events at start: Ray folds 3 alike into one line

NEUROSPHERE = shutil.which("neurosphere", path=str(Path(sys.executable).parent)) or "neurosphere"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _loopback(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # ::ffff:127.0.0.1, a dual-stack socket bound to loopback
    return ip.is_loopback


def _listeners(top: psutil.Process) -> list[tuple[str, int, str]]:
    """(address, port, process) of every listening TCP/UDP socket under `top`."""
    procs = {top.pid: top}
    with contextlib.suppress(psutil.NoSuchProcess):
        procs |= {p.pid: p for p in top.children(recursive=True)}
    found = []
    for conn in psutil.net_connections("inet"):
        listening = conn.status == psutil.CONN_LISTEN or conn.type == socket.SOCK_DGRAM
        if conn.pid in procs and listening and conn.laddr:
            try:
                name = " ".join(procs[conn.pid].cmdline())[:80]
            except psutil.Error:
                name = "?"
            found.append((conn.laddr.ip, conn.laddr.port, name))
    return found


@dataclass
class Served:
    process: subprocess.Popen[bytes]
    http_port: int
    dir: Path
    tenant_id: str
    number: str

    def out(self) -> str:
        return (self.dir / "stdout.log").read_text()

    def err(self) -> str:
        return (self.dir / "stderr.log").read_text()


@pytest.fixture(scope="module")
def served(pg_urls: PgUrls, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    tmp_path = tmp_path_factory.mktemp("serve")
    http_port = _free_port()
    number = "+1555" + str(uuid.uuid4().int)[:7]

    async def provision() -> str:
        pool = await create_pool(pg_urls.app, min_size=1, max_size=1)
        try:
            new = tenants.NewTenant(name="Serve Agency", numbers=(number,), twilio_auth_token=TOKEN)
            return await tenants.create_tenant(pool, new, tokens=SecretBox(SECRET, TWILIO_LABEL))
        finally:
            await pool.close()

    tenant_id = asyncio.run(provision())
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("RAY_", "NEUROSPHERE_", "PUBLIC_BASE_URL", "OPENAI_"))
    }
    env |= {
        "RAY_USAGE_STATS_ENABLED": "0",
        "DATABASE_URL": pg_urls.owner,
        "NEUROSPHERE_APP_DATABASE_URL": pg_urls.app,
        "NEUROSPHERE_DATA_DIR": str(tmp_path / "engine"),
        "NEUROSPHERE_MEDIA_PORTS": env_range(LOOPBACK_MEDIA),
        "NEUROSPHERE_WARM_CALLS": "2",
        "NEUROSPHERE_MEMORY_ACTORS": str(MEMORY_ACTORS),
        "NEUROSPHERE_LOG_FORMAT": "json",
        "NEUROSPHERE_DRAIN_TIMEOUT_S": "5",
        "NEUROSPHERE_JWT_SECRET": SECRET,
    }
    with (tmp_path / "stdout.log").open("wb") as out, (tmp_path / "stderr.log").open("wb") as err:
        engine = subprocess.Popen(  # noqa: S603 - the engine's own command
            [NEUROSPHERE, "serve", "--host", "127.0.0.1", "--port", str(http_port)],
            env=env,
            stdout=out,
            stderr=err,
        )
    served = Served(engine, http_port, tmp_path, tenant_id, number)
    top = psutil.Process(engine.pid)
    under: list[psutil.Process] = []
    try:
        # runtime.json is written once the engine is up; `serve` prints its URLs after the
        # calls a crash left open are reconciled (a tenant actor for each tenant in the database)
        runtime = tmp_path / "engine" / "runtime.json"
        deadline = time.monotonic() + 180
        while not (runtime.exists() and "Listening on" in served.out()):
            assert engine.poll() is None, served.err()[-4000:]
            assert time.monotonic() < deadline, served.err()[-4000:]
            time.sleep(1)
        under = top.children(recursive=True)
        yield served
    finally:
        if engine.poll() is None:
            engine.send_signal(signal.SIGINT)
        try:
            engine.wait(60)
        except subprocess.TimeoutExpired:
            engine.kill()
        for proc in under:  # whatever of this engine's Ray outlived it
            with contextlib.suppress(psutil.Error):
                proc.kill()


def test_the_local_ray_of_serve_listens_on_loopback_only(served: Served) -> None:
    http_port = served.http_port
    health = httpx.get(f"http://127.0.0.1:{http_port}/healthz", timeout=10)
    assert health.status_code == 200
    top = psutil.Process(served.process.pid)
    under = top.children(recursive=True)
    names = " ".join(" ".join(p.cmdline()) for p in under)
    for part in ("gcs_server", "raylet", "dashboard", "CallActor", "CallPool"):
        assert part in names, f"no {part} process under serve"
    listeners = _listeners(top)
    assert len(listeners) >= 8, listeners  # GCS, raylet, agents, dashboard, actors, ...
    exposed = [entry for entry in listeners if not _loopback(entry[0])]
    assert exposed == [], exposed
    ports = {port for _ip, port, _name in listeners}
    assert http_port in ports  # the webhook port is among them, on loopback


def test_serve_prints_the_urls_of_its_own_port(served: Served) -> None:
    base = f"http://127.0.0.1:{served.http_port}"
    lines = served.out().splitlines()
    assert f"Webhook URL for your Twilio number (A call comes in): {base}/twilio/voice" in lines
    assert f"Status callback URL: {base}/twilio/status" in lines
    assert f"Listening on {base}; health at {base}/healthz" in lines
    everything = served.out() + served.err()
    assert ":8000" not in everything
    assert "ready at" not in everything  # Serve's own line names its proxy's address


def _json_events(text: str) -> list[dict[str, object]]:
    events = []
    for line in text.splitlines():
        if line.startswith("{"):
            events.append(json.loads(line))
    return events


def test_actor_log_lines_reach_serve_as_json_one_event_a_line(served: Served) -> None:
    deadline = time.monotonic() + 30
    while True:
        ready = [e for e in _json_events(served.err()) if e.get("event") == "memory_actor_ready"]
        if len(ready) == MEMORY_ACTORS or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    # Ray prefixes "(MemoryActor pid=...)", which breaks the JSON, and folds lines alike from
    # several processes into one ("[repeated 2x across cluster]"): both by default
    prefixed = [line for line in served.err().splitlines() if "memory_actor_ready" in line]
    assert [line for line in prefixed if not line.startswith("{")] == []
    assert "[repeated" not in served.err()
    assert sorted(str(e["index"]) for e in ready) == [str(i) for i in range(MEMORY_ACTORS)]


async def test_sigterm_ends_a_live_call_with_its_outcome(
    served: Served, app_pool: asyncpg.Pool
) -> None:
    base = f"http://127.0.0.1:{served.http_port}"
    caller = TwilioCaller(webhook_base=base, public_base_url=base, auth_token=TOKEN)
    script = CallScript(
        from_number="+15550188003",
        to_number=served.number,
        steps=(WaitForAgent(timeout=30), Pause(120), HangUp()),  # on the line at SIGTERM
    )
    call_sid = "CA" + uuid.uuid4().hex
    call = asyncio.create_task(caller.place_call(script, call_sid=call_sid, timeout=200))
    for _ in range(600):
        turns = await calls.load_turns(app_pool, served.tenant_id, call_sid)
        if any(t.role == "agent" for t in turns):  # the greeting was said
            break
        assert not call.done(), call
        await asyncio.sleep(0.1)
    else:
        pytest.fail("the call never got its greeting")
    began = time.monotonic()
    served.process.send_signal(signal.SIGTERM)
    code = await asyncio.to_thread(served.process.wait, 120)
    assert code == 0, served.err()[-4000:]
    assert 4.0 < time.monotonic() - began < 60  # the call went on until the 5 s bound
    out = served.out()
    assert "draining: no new calls" in out
    assert "drained: 1 live call(s), 0 finished, 1 ended at the bound" in out
    with contextlib.suppress(Exception):  # the engine is gone: the caller's last POSTs fail
        await asyncio.wait_for(call, 30)
    record = await calls.get_call(app_pool, served.tenant_id, call_sid)
    assert record is not None
    assert record.outcome == "engine_shutdown"
    assert record.ended_at is not None
