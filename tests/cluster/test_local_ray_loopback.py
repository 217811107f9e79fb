"""The local Ray that `neurosphere serve` starts (no RAY_ADDRESS) listens on loopback only: its
GCS, raylet, object manager, dashboard and its agents (metrics export included), and every
worker's and actor's gRPC server. Nothing of a single-machine engine faces the network.

`serve` runs as a process of its own, with its dashboard, exactly as an operator starts it;
every listening socket of it and the processes under it is read from the kernel (psutil). About
40 s here.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest

from tests.conftest import PgUrls

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(300)]

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


def test_the_local_ray_of_serve_listens_on_loopback_only(pg_urls: PgUrls, tmp_path: Path) -> None:
    http_port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    env |= {
        "RAY_USAGE_STATS_ENABLED": "0",
        "DATABASE_URL": pg_urls.owner,
        "NEUROSPHERE_APP_DATABASE_URL": pg_urls.app,
        "NEUROSPHERE_DATA_DIR": str(tmp_path / "engine"),
        "NEUROSPHERE_HTTP_PORT": str(http_port),
        "PUBLIC_BASE_URL": f"http://127.0.0.1:{http_port}",
        "NEUROSPHERE_MEDIA_PORTS": "24600-24699",
        "NEUROSPHERE_WARM_CALLS": "2",
        "NEUROSPHERE_MEMORY_ACTORS": "1",
    }
    log = (tmp_path / "engine.log").open("wb")
    engine = subprocess.Popen(  # noqa: S603 - the engine's own command
        [NEUROSPHERE, "serve"], env=env, stdout=log, stderr=log
    )
    top = psutil.Process(engine.pid)
    under: list[psutil.Process] = []
    try:
        runtime = tmp_path / "engine" / "runtime.json"  # written once `serve` is all up
        deadline = time.monotonic() + 180
        while not runtime.exists():
            assert engine.poll() is None, (tmp_path / "engine.log").read_text()[-4000:]
            assert time.monotonic() < deadline, (tmp_path / "engine.log").read_text()[-4000:]
            time.sleep(1)
        health = httpx.get(f"http://127.0.0.1:{http_port}/healthz", timeout=10)
        assert health.status_code == 200
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
    finally:
        engine.send_signal(signal.SIGINT)
        try:
            engine.wait(60)
        except subprocess.TimeoutExpired:
            engine.kill()
        for proc in under:  # whatever of this engine's Ray outlived it
            with contextlib.suppress(psutil.Error):
                proc.kill()
        log.close()
