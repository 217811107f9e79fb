"""The webhook port on real Ray Serve: the ingress replica listens on it itself (no Serve proxy
in between), and when the replica process dies, the one Serve starts in its place serves the
same port again."""

from __future__ import annotations

import asyncio
import os
import signal
import time

import httpx
import psutil

from engine.cli.runtime import Engine

RECOVERY_S = 60.0


def _listener_pid(port: int) -> int | None:
    for conn in psutil.net_connections(kind="tcp"):
        if conn.status == psutil.CONN_LISTEN and conn.laddr.port == port and conn.pid:
            return int(conn.pid)
    return None


def _titles(prefix: str) -> list[str]:
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        line = " ".join(proc.info["cmdline"] or [])
        if line.startswith(prefix):
            found.append(line)
    return found


async def _healthz(base: str) -> int | None:
    try:
        async with httpx.AsyncClient(timeout=5) as client:
            return (await client.get(f"{base}/healthz")).status_code
    except httpx.TransportError:
        return None


async def test_the_ingress_replica_serves_the_webhook_port_itself(ray_engine: Engine) -> None:
    pid = _listener_pid(ray_engine.settings.http_port)
    assert pid is not None
    assert " ".join(psutil.Process(pid).cmdline()).startswith("ray::ServeReplica")
    assert _titles("ray::ProxyActor") == []
    assert await _healthz(ray_engine.webhook_base) == 200


async def test_a_killed_replica_is_replaced_on_the_same_port(ray_engine: Engine) -> None:
    port = ray_engine.settings.http_port
    first = _listener_pid(port)
    assert first is not None
    os.kill(first, signal.SIGKILL)
    deadline = time.monotonic() + RECOVERY_S
    while time.monotonic() < deadline:
        second = _listener_pid(port)
        if second not in (None, first) and await _healthz(ray_engine.webhook_base) == 200:
            break
        await asyncio.sleep(0.5)
    else:
        raise AssertionError(f"nothing served port {port} again within {RECOVERY_S:g} s")
    assert " ".join(psutil.Process(second).cmdline()).startswith("ray::ServeReplica")
