"""The webhook port, served by the ingress replica itself (I/O: one listening socket).

Through Serve's HTTP proxy every request is a process hop more: the proxy parses it, routes it
and streams it to the replica over a Ray call, and the answer comes back the same way. That
cost 7.5-8.3 ms of CPU per webhook in proxy and replica together on the 2-core machine, against
1.6 ms when the replica serves the port (bench/README.md), and at 20 call arrivals/s it is CPU
the calls need. So the ingress replica binds `NEUROSPHERE_HTTP_PORT` and serves its app
with uvicorn on its own event loop (the one its handlers run on), and Serve runs no proxy.
Serve still starts the replica, checks its health and replaces it when it dies.

The socket is bound with SO_REUSEPORT, so a replacement replica can listen while the one it
replaces is still finishing its requests; the kernel then spreads new connections over both
until the old one closes its socket.

Two limits, kept apart: requests being handled at once (MAX_REQUESTS, then a quick 503 with
Retry-After rather than a queue) and open connections (`max_connections()`). uvicorn's own
`limit_concurrency` counts idle keep-alive connections too, so used as the request limit it
answered 503 to every new request once 200 clients had kept a connection open.
"""

from __future__ import annotations

import asyncio
import contextlib
import resource
import socket
from collections.abc import Iterator

import uvicorn
from starlette.types import ASGIApp, Receive, Scope, Send

START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 5
MAX_REQUESTS = 200  # handled at once before a 503 (Serve routes no request here)
KEEP_ALIVE_S = 90  # idle keep-alive connections (Twilio and the TLS proxy reuse them)
RETRY_AFTER_S = 1


def max_connections() -> int:
    """Open connections (idle keep-alive ones included) before uvicorn answers 503: half the
    process's file descriptors, at most 4096; the rest are the replica's other sockets."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return max(MAX_REQUESTS, min(4096, soft // 2)) if soft > 0 else 4096


class RequestLimit:
    """ASGI wrapper: at most `limit` HTTP requests in the app at once; the next ones get 503
    at once. One event loop, so a plain counter is exact."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self._app = app
        self._limit = limit
        self.active = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        if self.active >= self._limit:
            await _busy(send)
            return
        self.active += 1
        try:
            await self._app(scope, receive, send)
        finally:
            self.active -= 1


async def _busy(send: Send) -> None:
    body = b"Service Unavailable: too many requests in progress"
    await send(
        {
            "type": "http.response.start",
            "status": 503,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
                (b"retry-after", str(RETRY_AFTER_S).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def listening_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to (host, port), shareable with a later replica (SO_REUSEPORT)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
        sock.listen(socket.SOMAXCONN)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield  # the process's signals are Ray's, whichever thread the replica serves from


class HttpListener:
    """uvicorn serving `app` on a socket of its own, on the running event loop."""

    def __init__(
        self, app: ASGIApp, sock: socket.socket, max_requests: int, forwarded_allow_ips: str
    ) -> None:
        self._sock = sock
        self._server = _Server(
            uvicorn.Config(
                RequestLimit(app, max_requests),
                lifespan="off",  # Serve runs the app's lifespan; this serves the same app
                access_log=False,
                log_config=None,
                limit_concurrency=max_connections(),
                timeout_keep_alive=KEEP_ALIVE_S,
                server_header=False,
                # X-Forwarded-* only from the configured proxies: anyone else could pick the
                # address the admin login limits count by
                proxy_headers=bool(forwarded_allow_ips),
                forwarded_allow_ips=forwarded_allow_ips or None,
                timeout_graceful_shutdown=STOP_TIMEOUT_S,
            )
        )
        self._task: asyncio.Task[None] | None = None

    @property
    def serving(self) -> bool:
        """Accepting connections: started, not stopping, and its server task still running."""
        return (
            self._task is not None
            and not self._task.done()
            and self._server.started
            and not self._server.should_exit
        )

    @property
    def port(self) -> int:
        port: int = self._sock.getsockname()[1]
        return port

    @classmethod
    async def start(
        cls,
        app: ASGIApp,
        host: str,
        port: int,
        *,
        max_requests: int = MAX_REQUESTS,
        forwarded_allow_ips: str = "",
    ) -> HttpListener:
        """Bind and serve; returns once connections are accepted. OSError when the port is
        taken by something that did not set SO_REUSEPORT. `forwarded_allow_ips`: the proxies
        whose X-Forwarded-For and -Proto are believed (empty: nobody's)."""
        listener = cls(app, listening_socket(host, port), max_requests, forwarded_allow_ips)
        listener._task = asyncio.get_running_loop().create_task(
            listener._server.serve(sockets=[listener._sock])
        )
        loop = asyncio.get_running_loop()
        deadline = loop.time() + START_TIMEOUT_S
        while not listener._server.started:
            if listener._task.done() or loop.time() > deadline:
                await listener.stop()
                raise RuntimeError(f"the HTTP listener on {host}:{port} did not start")
            await asyncio.sleep(0.01)
        return listener

    async def stop(self) -> None:
        """Stop accepting, let requests in flight finish (up to STOP_TIMEOUT_S), close."""
        self._server.should_exit = True
        if self._task is not None:
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(asyncio.shield(self._task), STOP_TIMEOUT_S + 1.0)
            if not self._task.done():
                self._server.force_exit = True
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task
        self._sock.close()
