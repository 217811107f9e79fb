"""CallActor: the Ray actor a live call runs in - its process, its media port, one call at a time.

State it owns: the media WebSocket server (bound once, on its own port of the configured range)
and the current call's `CallSession` (actors/call_session.py), which owns everything about that
call. The server hands each connection and handshake to the current session; with no call, or
a call that is over, a connection is refused.

An actor serves its calls one after another: when a call is over, the pool asks `recycle`,
which waits for the session to finish, cancels whatever it left running and drops it - the
next call gets a new session, so nothing of one caller reaches the next. Starting a Ray actor
costs about a CPU-second on this class of machine (Python, Ray's worker, our imports), so a
process per call would need ~20 cores at 20 arrivals/s; reusing the process costs nothing. An
actor retires (recycle answers False) after `call_actor_max_calls` calls, or when a session's
tasks would not stop, and the pool replaces it.

Idempotent methods: `start` (returns the same port), `prepare` for the call it already serves
(returns the same URL), `recycle`, `check_health`.

When it dies mid-call: see CallSession - Twilio asks the `<Connect action>`, and the webhook
resumes the call on a fresh actor from the turns in Postgres.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import random
from http import HTTPStatus

import structlog
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.http11 import Request, Response

from actors.call_session import CallSession
from actors.ports import CallControl, CallLifecycle, CallSetup, MemoryClient
from engine.config import EngineConfig

TWILIO_MAX_MESSAGE = 64 * 1024
DONE_WAIT_S = 5.0
# The pool answers the webhook without waiting for `prepare` to arrive here, so Twilio may
# knock before it has: a handshake waits this long for the call to be handed over.
PREPARE_WAIT_S = 2.0
MEMORY_PING_S = 10.0

log = structlog.get_logger(__name__)


class CallActor:
    def __init__(
        self,
        config: EngineConfig,
        memory: MemoryClient,
        lifecycle: CallLifecycle | None = None,
        control: CallControl | None = None,
    ) -> None:
        self._config = config
        self._memory = memory
        self._lifecycle = lifecycle
        self._control = control
        self._server: Server | None = None
        self._port: int | None = None
        self._session: CallSession | None = None
        self._served = 0
        self._retired = False
        self._prepared = asyncio.Event()

    def __repr__(self) -> str:
        session = self._session
        if session is None or session.done:
            return f"CallActor(warm, served={self._served})"
        return f"CallActor({session!r})"

    async def start(self) -> int:
        """Bind the media WebSocket server on a free port of the configured range."""
        if self._port is not None:
            return self._port
        low, high = self._config.media_port_range
        ports = list(range(low, high + 1))
        offset = random.randrange(len(ports))
        for port in ports[offset:] + ports[:offset]:
            try:
                self._server = await serve(
                    self._handle_twilio,
                    self._config.media_bind_host,
                    port,
                    process_request=self._check_handshake,
                    max_size=TWILIO_MAX_MESSAGE,
                    compression=None,
                    server_header=None,
                )
            except OSError as exc:
                if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                    continue
                raise
            self._port = port
            await self._connect_memory()
            return port
        raise RuntimeError(f"no free media port in {low}-{high}")

    async def _connect_memory(self) -> None:
        try:
            await asyncio.wait_for(self._memory.ping(), MEMORY_PING_S)
        except Exception as exc:  # the first call pays for the connection instead
            log.warning("memory_ping_failed", error=repr(exc))

    async def prepare(self, setup: CallSetup) -> str:
        """Take on a call: returns the media URL at once (see CallSession.begin)."""
        port = await self.start()
        session = self._session
        if session is not None:
            if session.call_sid == setup.call_sid:
                return session.media_url
            if not session.done:
                raise RuntimeError("this call actor already serves another call")
        if self._retired:
            raise RuntimeError("this call actor is retired")
        session = CallSession(self._config, self._memory, self._lifecycle, self._control, port)
        self._session = session
        self._served += 1
        url = session.begin(setup)
        self._prepared.set()
        return url

    async def recycle(self) -> bool:
        """Make ready for another call once the current one is over. False means: retire me."""
        session = self._session
        if session is not None:
            if await session.wait_done(DONE_WAIT_S) is None and not session.done:
                return False
            stopped = await session.drain()
            self._session = None
            self._prepared.clear()
            if not stopped:
                self._retired = True
        if self._served >= self._config.call_actor_max_calls:
            self._retired = True
        return not self._retired and self._port is not None

    async def check_health(self) -> dict[str, object]:
        session = self._session
        health: dict[str, object] = {"pid": os.getpid(), "port": self._port, "served": self._served}
        if session is None:
            return {**health, "call_sid": None, "phase": "warm"}
        return {**health, **await session.check_health()}

    async def wait_done(self, timeout: float) -> str | None:
        """Wait for the current call to end; its outcome, or None on timeout or no call."""
        session = self._session
        return await session.wait_done(timeout) if session is not None else None

    async def shutdown(self, timeout: float = 5.0) -> str | None:
        """End whatever this actor is doing (engine shutdown, tests); returns the outcome."""
        session = self._session
        outcome = await session.shutdown(timeout) if session is not None else None
        if self._server is not None:
            self._server.close()
        return outcome

    async def _check_handshake(
        self, connection: ServerConnection, request: Request
    ) -> Response | None:
        if self._session is None and not self._retired:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._prepared.wait(), PREPARE_WAIT_S)
        session = self._session
        if session is None or session.done:
            return connection.respond(HTTPStatus.SERVICE_UNAVAILABLE, "no call here\n")
        return session.check_handshake(connection, request)

    async def _handle_twilio(self, ws: ServerConnection) -> None:
        session = self._session
        if session is None or session.done:
            await ws.close(1008, "no stream expected")
            return
        await session.handle_twilio(ws)
