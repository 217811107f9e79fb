"""One session's socket to the realtime model, on picows' callback API (I/O): a frame is read,
handed to the call session and, when it needs no waiting, relayed on in the same callback (no
per-message future, queue or task); a client event is written with no coroutine per send.

Reading: text (and binary) messages go to the session's `model_frame` in order (through an
engine.ordered_runner); a close frame from the model is answered and the socket shut. Writing:
`send` writes at once; `writable` is False while the socket is closing or gone, or while its
write buffer is above the transport's high-water mark (the link then holds events, bounded).
`wait_closed` returns, once the socket is gone and every frame read has been handled, why it
went, as the link logs and reports it; it raises what a frame's handler raised, if one did.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from typing import Any

from picows import WSCloseCode, WSFrame, WSListener, WSMsgType, WSTransport

from actors.ws_messages import CLOSE, TEXT, BadMessage, MessageJoiner
from engine.ordered_runner import OrderedRunner
from engine.realtime_client import MAX_MESSAGE_BYTES

FrameHandler = Callable[[str | bytes, int], Coroutine[Any, Any, None]]

CLOSE_WAIT_S = 1.5  # how long a close waits for the model's close frame before cutting
CLEAN_CLOSE = frozenset({1000, 1001})  # codes the session hears as a close, not a break


class ModelSocket(WSListener):
    def __init__(self, on_frame: FrameHandler, on_writable: Callable[[], None]) -> None:
        """`on_frame(frame, received_ns)` handles each message; `on_writable` is called when
        a full write buffer has drained below the low-water mark."""
        super().__init__()
        self._on_writable = on_writable
        self._runner: OrderedRunner[str | bytes] = OrderedRunner(
            on_frame, self._failed, self._pause_reading, self._resume_reading
        )
        self._run = self._early  # until `start`: frames wait for the session's opening
        self._waiting: list[tuple[str | bytes, int]] = []
        self._transport: WSTransport | None = None
        self._send: Callable[[WSMsgType, str], None] | None = None
        self._joiner = MessageJoiner(MAX_MESSAGE_BYTES)
        self._paused = False
        self._error: BaseException | None = None
        self._gone: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.writable = False

    def _early(self, frame: str | bytes, received_ns: int) -> None:
        self._waiting.append((frame, received_ns))

    def start(self) -> None:
        """Hand frames to the session from now on (those read so far first): called once the
        session's opening frames are sent."""
        run = self._run = self._runner.run
        waiting, self._waiting = self._waiting, []
        for frame, received_ns in waiting:
            run(frame, received_ns)

    @property
    def paused(self) -> bool:
        """The write buffer is above its high-water mark."""
        return self._paused

    # --- picows' callbacks --------------------------------------------------------------------

    def on_ws_connected(self, transport: WSTransport) -> None:
        self._transport = transport
        self._send = transport.send
        self.writable = True

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type is CLOSE:
            self.writable = False
        try:
            message = self._joiner.message(transport, frame)
        except BadMessage as bad:
            self._refuse(bad.code, bad.reason)
            return
        if message is not None:
            self._run(message, time.perf_counter_ns())

    def _refuse(self, code: WSCloseCode, reason: str) -> None:
        """A message the session cannot take: closed with `code` (the link then reconnects)."""
        self.writable = False
        transport = self._transport
        if transport is None:
            return
        if not transport.is_close_frame_sent:
            transport.send_close(code, reason.encode())
        transport.disconnect()

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        self.writable = False
        self._paused = False
        if not self._gone.done():
            self._gone.set_result(None)

    def pause_writing(self) -> None:
        self._paused = True
        self.writable = False

    def resume_writing(self) -> None:
        self._paused = False
        transport = self._transport
        if transport is not None and not (
            transport.is_close_frame_sent or transport.is_disconnected
        ):
            self.writable = True
            self._on_writable()

    # --- the link's side ----------------------------------------------------------------------

    def send(self, text: str) -> None:
        """Write a client event now (check `writable` first: a closing socket drops it)."""
        assert self._send is not None
        self._send(TEXT, text)

    def close(self, code: int, reason: str) -> None:
        """Start the closing handshake; the socket is cut if the model does not answer it."""
        transport = self._transport
        self.writable = False
        if transport is None or transport.is_disconnected:
            return
        if not transport.is_close_frame_sent:
            transport.send_close(WSCloseCode(code), reason.encode())
        asyncio.get_running_loop().call_later(CLOSE_WAIT_S, transport.disconnect, False)

    async def wait_closed(self) -> str:
        """Once the socket is gone and its frames handled: why it went."""
        await asyncio.shield(self._gone)
        await self._runner.wait_idle()
        if self._error is not None:
            raise self._error
        transport = self._transport
        handshake = transport.close_handshake if transport is not None else None
        received = handshake.recv if handshake is not None else None
        if received is None:
            return "model socket broke (no close frame)"
        code: int = received.code.value  # any code, 4000s included (picows' enum is flexible)
        if code in CLEAN_CLOSE and handshake is not None and handshake.sent is not None:
            return f"model closed the socket ({code})"
        return f"model socket broke ({code})"

    def cancel(self) -> None:
        """Cut the socket and stop a frame's handler that is waiting (the call is over)."""
        self._runner.cancel()
        if self._transport is not None:
            self._transport.disconnect(False)

    def _failed(self, exc: BaseException) -> None:
        if self._error is None:
            self._error = exc
        self.cancel()

    def _pause_reading(self) -> None:
        if self._transport is not None:
            self._transport.underlying_transport.pause_reading()

    def _resume_reading(self) -> None:
        transport = self._transport
        if transport is not None and not transport.is_disconnected:
            transport.underlying_transport.resume_reading()
