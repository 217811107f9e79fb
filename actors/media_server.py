"""A call actor's media WebSocket server (I/O): picows' callback API, one TwilioSocket
(actors/twilio_socket.py) per stream, each handed to the call session its path names.

The handshake is answered at once, before any upgrade: HTTP 403 for a bad signature, 409 for a
second stream, 503 for a call that is over here (or a retired actor), 404 for a handshake that
cannot be a stream of this actor (a path that is not one of its media URLs, or no signature). A
signed stream whose call has not been handed over yet (the pool answers the webhook before
`prepare` arrives) is let in and waits up to PREPARE_WAIT_S for it (`handed_over` wakes it);
then its signature is checked and a bad one closes it (1008), as does no call at all (1013).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from http import HTTPStatus
from typing import Protocol
from urllib.parse import urlsplit

import structlog
from picows import (
    WSUpgradeRequest,
    WSUpgradeResponse,
    WSUpgradeResponseWithListener,
    ws_create_server,
)

from actors.call_sockets import MediaSocket
from actors.twilio_socket import MAX_MESSAGE, TwilioSocket

# The pool answers the webhook without waiting for `prepare` to arrive here, so Twilio may
# knock before it has: such a stream is let in and waits this long for its call to be handed
# over, then has its signature checked (at most EARLY_STREAMS of them wait at once).
PREPARE_WAIT_S = 2.0
EARLY_STREAMS = 32
HANDSHAKE_TIMEOUT_S = 10.0
KEEPALIVE_S = 20.0  # a silent stream is pinged after this long, and cut if the ping is not answered
# each stream's read buffer to begin with (picows' default is 16 KiB): a 20 ms frame is ~330
# bytes, so 4 KiB holds a dozen of them; picows doubles it when a read fills it (a larger
# frame, a backlog after a stall), and it is kept for the stream's length, once per live call
READ_BUFFER = 4 * 1024
# Streams ride the event loop's own transport (uvloop's TCP transport in a call actor), not
# picows' default aiofastnet one (a reader callback per socket that then reads it): 100 held
# calls, alternating runs, call actors 0.447-0.526 cores against 0.488-0.541, and audio in p99
# 3.3-4.5 ms against 4.1-6.4. The model socket does the same (engine.provider_socket).
USE_AIOFASTNET = False

log = structlog.get_logger(__name__)


class MediaCall(Protocol):
    """A call session, as its media server sees it (actors/call_session.py)."""

    def handshake_refusal(self, headers: Mapping[str, str]) -> tuple[HTTPStatus, str] | None: ...
    async def handle_twilio(self, ws: MediaSocket) -> None: ...


class StreamRoutes(Protocol):
    """What the server asks its call actor about a handshake's path."""

    def session_for(self, path: str) -> MediaCall | None:
        """The call the path leads to, if it is here."""
        ...

    def refuses(self, path: str) -> bool:
        """No call will come here for the path (the actor is retired, or the call recycled)."""
        ...

    def may_come(self, path: str) -> bool:
        """The path is one of this actor's media URLs, for a call that may still come."""
        ...


class MediaServer:
    def __init__(self, routes: StreamRoutes) -> None:
        self._routes = routes
        self._server: asyncio.Server | None = None
        self._handed_over = asyncio.Event()  # replaced after each hand-over: wakes early streams
        self._early = 0  # streams let in before their call was handed over, waiting for it
        self._streams: set[asyncio.Task[None]] = set()
        self._sockets: set[TwilioSocket] = set()

    async def bind(self, host: str, port: int) -> None:
        """Listen on `port` (raises OSError when it is taken)."""
        self._server = await ws_create_server(
            self._listener,
            host,
            port,
            websocket_handshake_timeout=HANDSHAKE_TIMEOUT_S,
            enable_auto_ping=True,
            auto_ping_idle_timeout=KEEPALIVE_S,
            auto_ping_reply_timeout=KEEPALIVE_S,
            max_frame_size=MAX_MESSAGE,
            read_buffer_init_size=READ_BUFFER,
            use_aiofastnet=USE_AIOFASTNET,
        )

    def handed_over(self) -> None:
        """A call was handed to the actor: early streams look for theirs again."""
        self._handed_over.set()
        self._handed_over = asyncio.Event()

    def close(self) -> None:
        """Stop listening and cut the streams still open."""
        if self._server is not None:
            self._server.close()
        for socket in list(self._sockets):
            socket.cancel()

    def _listener(self, request: WSUpgradeRequest) -> TwilioSocket | WSUpgradeResponseWithListener:
        """Twilio's handshake, answered at once: refused when the call it names is over here or
        its signature is wrong; let in when its call has not been handed over yet."""
        path = urlsplit(request.path.decode("latin-1")).path
        headers = request.headers
        session = self._routes.session_for(path)
        if session is not None:
            refusal = session.handshake_refusal(headers)
            if refusal is None:
                return TwilioSocket(path, headers, self._connected)
            status, text = refusal
        elif self._routes.refuses(path) or self._early >= EARLY_STREAMS:
            status, text = HTTPStatus.SERVICE_UNAVAILABLE, "no call here"
        elif self._routes.may_come(path) and headers.get("X-Twilio-Signature"):
            return TwilioSocket(path, headers, self._connected)  # its call is on its way here
        else:  # cannot be one of ours: refused before the upgrade, nothing held
            status, text = HTTPStatus.NOT_FOUND, "no such stream"
        body = (text + "\n").encode()
        response = WSUpgradeResponse.create_error_response(status, body)
        return WSUpgradeResponseWithListener(response, None)

    def _connected(self, socket: TwilioSocket) -> None:
        self._sockets.add(socket)
        task = asyncio.get_running_loop().create_task(self._stream(socket))
        self._streams.add(task)
        task.add_done_callback(self._streams.discard)

    async def _stream(self, socket: TwilioSocket) -> None:
        try:
            await self._hand_over(socket)
        except Exception as exc:  # a frame's handler failed: the socket is cut
            log.error("media_stream_failed", error=repr(exc))
        finally:
            self._sockets.discard(socket)
            socket.cancel()

    async def _hand_over(self, socket: TwilioSocket) -> None:
        session = self._routes.session_for(socket.path) or await self._wait_for_call(socket.path)
        if session is None:
            await socket.close(1013, "no call here")  # 1013: try again later
            return
        # checked again here: an early stream's call has only just come, and a call may have
        # ended between the handshake and now
        refusal = session.handshake_refusal(socket.headers)
        if refusal is not None:
            status, reason = refusal
            await socket.close(1008 if status == HTTPStatus.FORBIDDEN else 1013, reason)
            return
        await session.handle_twilio(socket)

    async def _wait_for_call(self, path: str) -> MediaCall | None:
        self._early += 1
        try:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + PREPARE_WAIT_S
            session = self._routes.session_for(path)
            while session is None and not self._routes.refuses(path) and loop.time() < deadline:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._handed_over.wait(), deadline - loop.time())
                session = self._routes.session_for(path)
            return session
        finally:
            self._early -= 1
