"""Twilio's media stream socket, server side, on picows' callback API (I/O): a caller frame is
handed to the call session inside the callback that read it, and the session's audio fast path
relays it to the model there and then (no per-message future, queue or task, no coroutine); a
frame whose handling waits (a start, a mark, a stop) goes on in one task and the frames behind it
queue in order (reading paused past engine.ordered_runner.HIGH_WATER of them).

`serve(on_frame)` delivers the frames read so far and then each new one, in order, until the
socket is gone and every frame is handled; it returns why the socket went ("closed" after a
clean close handshake, "broke (<code>)" or "broke (no close frame)" otherwise), as the session
records it. `send` writes at once and waits only while the write buffer is above WRITE_HIGH
(backpressure); it raises `MediaClosed` once the socket is closing or gone. `close(code,
reason)` stops handing frames over, sends the close frame and waits for the caller's answer (at
most CLOSE_WAIT_S, then cuts the socket).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping

from picows import WSCloseCode, WSFrame, WSListener, WSTransport

from actors.call_sockets import FrameHandler, MediaClosed
from actors.ws_messages import TEXT, BadMessage, MessageJoiner
from engine.ordered_runner import OrderedRunner

MAX_MESSAGE = 64 * 1024  # Twilio's frames are a few hundred bytes
WRITE_HIGH = 32 * 1024  # send waits while the write buffer is above this (as websockets does)
CLOSE_WAIT_S = 1.5  # how long a close waits for the caller's close frame before cutting
CLEAN_CLOSE = frozenset({0, 1000, 1001})  # codes of a close the session hears as "closed"


class TwilioSocket(WSListener):
    def __init__(
        self,
        path: str,
        headers: Mapping[str, str],
        on_connected: Callable[[TwilioSocket], None],
    ) -> None:
        """One accepted media handshake for `path`; `on_connected(socket)` is called once the
        upgrade is done (the server then hands the socket to its call)."""
        super().__init__()
        self.path = path
        self.headers = headers
        self._on_connected = on_connected
        self._run: Callable[[str | bytes, int], None] = self._early
        self._waiting: list[tuple[str | bytes, int]] = []  # read before `serve`
        self._runner: OrderedRunner[str | bytes] | None = None
        self._transport: WSTransport | None = None
        self._joiner = MessageJoiner(MAX_MESSAGE)
        self._dropping = False  # closed by this side: frames read from now on are no one's
        self._drained: asyncio.Future[None] | None = None  # while the write buffer is full
        self._error: BaseException | None = None
        self._gone: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def _early(self, frame: str | bytes, received_ns: int) -> None:
        self._waiting.append((frame, received_ns))

    # --- picows' callbacks --------------------------------------------------------------------

    def on_ws_connected(self, transport: WSTransport) -> None:
        self._transport = transport
        transport.underlying_transport.set_write_buffer_limits(high=WRITE_HIGH)
        self._on_connected(self)

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        try:
            message = self._joiner.message(transport, frame)
        except BadMessage as bad:
            self._abort(bad.code, bad.reason)
            return
        if message is not None and not self._dropping:
            self._run(message, time.perf_counter_ns())

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        self._wake_writers()
        if not self._gone.done():
            self._gone.set_result(None)

    def pause_writing(self) -> None:
        if self._drained is None:
            self._drained = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        self._wake_writers()

    def _wake_writers(self) -> None:
        drained, self._drained = self._drained, None
        if drained is not None and not drained.done():
            drained.set_result(None)

    # --- the session's side -------------------------------------------------------------------

    async def serve(self, on_frame: FrameHandler) -> str:
        """Hand every frame to `on_frame(frame, received_ns)`, in order, until the socket is
        gone and its frames handled: why it went. Raises what a frame's handler raised."""
        runner = self._runner = OrderedRunner(
            on_frame, self._failed, self._pause_reading, self._resume_reading
        )
        self._run = runner.run
        waiting, self._waiting = self._waiting, []
        for frame, received_ns in waiting:
            runner.run(frame, received_ns)
        try:
            await asyncio.shield(self._gone)
            await runner.wait_idle()
        except asyncio.CancelledError:
            self.cancel()
            raise
        if self._error is not None:
            raise self._error
        return self._why()

    def _why(self) -> str:
        transport = self._transport
        handshake = transport.close_handshake if transport is not None else None
        if handshake is None:
            return "broke (no close frame)"
        received, sent = handshake.recv, handshake.sent
        codes = [info.code.value for info in (received, sent) if info is not None]
        if all(code in CLEAN_CLOSE for code in codes):
            return "closed"
        return f"broke ({received.code.value if received is not None else 'no close frame'})"

    async def send(self, text: str) -> None:
        """Write a frame now; wait while the write buffer is full. Raises MediaClosed once the
        socket is closing or gone."""
        transport = self._transport
        if transport is None or transport.is_close_frame_sent or transport.is_disconnected:
            raise MediaClosed(self.path)
        transport.send(TEXT, text)
        drained = self._drained
        if drained is not None:
            await asyncio.shield(drained)
            if self._gone.done():
                raise MediaClosed(self.path)

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Stop handing frames over, send the close frame and wait for the caller's answer (at
        most CLOSE_WAIT_S: then the socket is cut)."""
        self._dropping = True
        if self._runner is not None:
            self._runner.drop()  # read but not handled: no one's frames now
        self._waiting.clear()
        transport = self._transport
        if transport is None or transport.is_disconnected:
            return
        if not transport.is_close_frame_sent:
            transport.send_close(WSCloseCode(code), reason.encode())
        try:
            await asyncio.wait_for(asyncio.shield(self._gone), CLOSE_WAIT_S)
        except TimeoutError:
            transport.disconnect(False)

    def cancel(self) -> None:
        """Cut the socket and stop a frame's handler that is waiting."""
        self._dropping = True
        if self._runner is not None:
            self._runner.cancel()
        if self._transport is not None:
            self._transport.disconnect(False)

    def _abort(self, code: WSCloseCode, reason: str) -> None:
        transport = self._transport
        self._dropping = True
        if self._runner is not None:
            self._runner.drop()
        if transport is None:
            return
        if not transport.is_close_frame_sent:
            transport.send_close(code, reason.encode())
        transport.disconnect()

    def _failed(self, exc: BaseException) -> None:
        if self._error is None:
            self._error = exc
        self._abort(WSCloseCode.INTERNAL_ERROR, "")

    def _pause_reading(self) -> None:
        if self._transport is not None:
            self._transport.underlying_transport.pause_reading()

    def _resume_reading(self) -> None:
        transport = self._transport
        if transport is not None and not transport.is_disconnected:
            transport.underlying_transport.resume_reading()
