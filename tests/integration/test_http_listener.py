"""The ingress replica's own HTTP listener (admin_api/listener.py) on real sockets: it serves
the app, shares its port with a replacement (SO_REUSEPORT), lets requests in flight finish
when it stops, limits requests in progress but not idle connections, and says so when the
port is held by something else."""

from __future__ import annotations

import asyncio
import socket

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from admin_api.auth import client_ip
from admin_api.listener import HttpListener


def _app(name: str, slow_s: float = 0.0) -> Starlette:
    async def hello(request: Request) -> PlainTextResponse:
        await asyncio.sleep(slow_s)
        return PlainTextResponse(name)

    return Starlette(routes=[Route("/", hello)])


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def test_it_serves_the_app_on_the_port_it_was_given() -> None:
    port = _free_port()
    listener = await HttpListener.start(_app("first"), "127.0.0.1", port)
    try:
        assert listener.port == port
        assert listener.serving
        async with httpx.AsyncClient() as client:
            response = await client.get(f"http://127.0.0.1:{port}/")
        assert (response.status_code, response.text) == (200, "first")
        assert "server" not in response.headers
    finally:
        await listener.stop()


async def test_a_replacement_binds_the_same_port_and_takes_over() -> None:
    port = _free_port()
    old = await HttpListener.start(_app("old"), "127.0.0.1", port)
    new = await HttpListener.start(_app("new"), "127.0.0.1", port)
    try:
        await old.stop()
        async with httpx.AsyncClient() as client:
            answers = {(await client.get(f"http://127.0.0.1:{port}/")).text for _ in range(20)}
        assert answers == {"new"}
    finally:
        await new.stop()


async def test_stopping_lets_a_request_in_flight_finish() -> None:
    port = _free_port()
    listener = await HttpListener.start(_app("slow", slow_s=0.5), "127.0.0.1", port)
    async with httpx.AsyncClient() as client:
        request = asyncio.create_task(client.get(f"http://127.0.0.1:{port}/"))
        await asyncio.sleep(0.2)
        await listener.stop()
        response = await request
    assert (response.status_code, response.text) == (200, "slow")
    assert not listener.serving
    with pytest.raises(httpx.ConnectError):
        async with httpx.AsyncClient() as client:
            await client.get(f"http://127.0.0.1:{port}/")


async def test_idle_keep_alive_connections_do_not_count_as_requests_in_progress() -> None:
    port = _free_port()
    listener = await HttpListener.start(_app("ok"), "127.0.0.1", port, max_requests=3)
    url = f"http://127.0.0.1:{port}/"
    clients = [httpx.AsyncClient() for _ in range(12)]
    try:
        # one after another; each client keeps its connection open after its answer
        assert [(await client.get(url)).status_code for client in clients] == [200] * 12
        async with httpx.AsyncClient() as late:
            response = await late.get(url)
        assert (response.status_code, response.text) == (200, "ok")
    finally:
        for client in clients:
            await client.aclose()
        await listener.stop()


async def test_requests_past_the_limit_get_a_quick_503_and_the_limit_frees_up() -> None:
    port = _free_port()
    listener = await HttpListener.start(_app("slow", slow_s=0.5), "127.0.0.1", port, max_requests=2)
    url = f"http://127.0.0.1:{port}/"
    clients = [httpx.AsyncClient() for _ in range(3)]
    try:
        slow = [asyncio.create_task(client.get(url)) for client in clients[:2]]
        await asyncio.sleep(0.2)
        began = asyncio.get_running_loop().time()
        refused = await clients[2].get(url)
        waited = asyncio.get_running_loop().time() - began
        assert refused.status_code == 503
        assert refused.headers["retry-after"] == "1"
        assert waited < 0.25  # answered at once, not queued behind the slow two
        assert [r.status_code for r in await asyncio.gather(*slow)] == [200, 200]
        assert (await clients[2].get(url)).status_code == 200
    finally:
        for client in clients:
            await client.aclose()
        await listener.stop()


async def test_the_ingress_replica_is_unhealthy_once_its_listener_stops_serving() -> None:
    from admin_api.deployment import Ingress

    replica_class = Ingress.func_or_class  # type: ignore[attr-defined]
    replica = object.__new__(replica_class)  # the health check reads only the listener
    replica._listener = await HttpListener.start(_app("ok"), "127.0.0.1", _free_port())
    replica.check_health()
    await replica._listener.stop()
    with pytest.raises(RuntimeError, match="not serving"):
        replica.check_health()


async def test_a_replica_whose_database_is_down_warms_nothing_and_still_starts() -> None:
    from actors.control_actors import RayTenantGateway
    from admin_api.context import WebhookContext
    from admin_api.deployment import Ingress
    from engine.config import EngineConfig

    down = EngineConfig(
        app_database_url=f"postgresql://app@127.0.0.1:{_free_port()}/none", jwt_secret="s" * 32
    )
    replica_class = Ingress.func_or_class  # type: ignore[attr-defined]
    replica = object.__new__(replica_class)
    replica._ctx = WebhookContext(down, RayTenantGateway(down))  # the gateway goes unused
    assert await replica._active_tenants() == []


async def test_a_port_held_without_reuseport_is_an_error() -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        with pytest.raises(OSError, match="in use"):
            await HttpListener.start(_app("late"), "127.0.0.1", port)


def _client_ip_app() -> Starlette:
    async def ip(request: Request) -> PlainTextResponse:
        return PlainTextResponse(client_ip(request))  # what the login limits count by

    return Starlette(routes=[Route("/", ip)])


@pytest.mark.parametrize(
    ("allowed", "seen"),
    [("", "127.0.0.1"), ("10.9.9.9", "127.0.0.1"), ("127.0.0.1", "203.0.113.7")],
)
async def test_forwarded_addresses_are_believed_only_from_the_configured_proxies(
    allowed: str, seen: str
) -> None:
    port = _free_port()
    listener = await HttpListener.start(
        _client_ip_app(), "127.0.0.1", port, forwarded_allow_ips=allowed
    )
    try:
        async with httpx.AsyncClient() as client:
            spoofed = await client.get(
                f"http://127.0.0.1:{port}/", headers={"X-Forwarded-For": "203.0.113.7"}
            )
        assert spoofed.text == seen  # a spoofed header gets no fresh login budget
    finally:
        await listener.stop()
