"""The loopback HTTP server the simulators share: serves on 127.0.0.1, says where, lets go."""

from __future__ import annotations

import socket

import aiohttp
import pytest
from aiohttp import web

from engine.sim.http_server import LoopbackServer


def _app(cleaned: list[bool]) -> web.Application:
    async def hello(request: web.Request) -> web.Response:
        return web.Response(text="hello")

    async def on_cleanup(app: web.Application) -> None:
        cleaned.append(True)

    app = web.Application()
    app.router.add_get("/hello", hello)
    app.on_cleanup.append(on_cleanup)
    return app


async def test_it_serves_on_a_loopback_port_until_stopped() -> None:
    cleaned: list[bool] = []
    async with LoopbackServer(_app(cleaned)) as server:
        assert server.base_url.startswith("http://127.0.0.1:")
        async with (
            aiohttp.ClientSession() as session,
            session.get(server.base_url + "/hello") as response,
        ):
            assert response.status == 200
            assert await response.text() == "hello"
    assert cleaned == [True]
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.ClientConnectorError):
            await session.get(server.base_url + "/hello")
    await server.stop()  # a second stop does nothing
    assert cleaned == [True]


async def test_a_port_in_use_fails_the_start_and_cleans_up() -> None:
    cleaned: list[bool] = []
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        server = LoopbackServer(_app(cleaned), port=taken.getsockname()[1])
        with pytest.raises(OSError, match="address already in use"):
            await server.start()
    assert cleaned == [True]
    assert server.base_url == ""
