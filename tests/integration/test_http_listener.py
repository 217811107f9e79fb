"""The ingress replica's own HTTP listener (admin_api/listener.py) on real sockets: it serves
the app, shares its port with a replacement (SO_REUSEPORT), lets requests in flight finish
when it stops, and says so when the port is held by something else."""

from __future__ import annotations

import asyncio
import socket

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

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
    with pytest.raises(httpx.ConnectError):
        async with httpx.AsyncClient() as client:
            await client.get(f"http://127.0.0.1:{port}/")


async def test_a_port_held_without_reuseport_is_an_error() -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        with pytest.raises(OSError, match="in use"):
            await HttpListener.start(_app("late"), "127.0.0.1", port)
