"""The call actor's link to the realtime model: open, configure, read, reconnect. I/O.

One `ModelLink` per call. It opens the session (configuration, then the opening request: the
greeting, or the resume line), relays frames to the actor, and when the socket drops without
being asked to, reconnects with backoff - at most MAX_RECONNECTS times in a row, the budget
reset after a healthy minute - replaying the configuration and the conversation so far as
items, without a second greeting. Caller audio arriving during the gap is held (bounded) and
sent once the new session is up. A refused handshake (bad key, 4xx other than 408/429) is
permanent and not retried. It also rotates sessions before the service's length cap.

The socket is picows' callback API (actors/model_socket.py): `send` writes at once, with no
coroutine, so a caller's audio frame goes from Twilio's socket to the model's in one callback.
While the socket's write buffer is above its high-water mark, events are held in the same
bounded backlog as while it is down, and sent in order once it drains.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque

import structlog

from actors.call_sockets import ModelListener
from actors.model_socket import ModelSocket
from engine.config import EngineConfig
from engine.realtime_client import RealtimeError, open_realtime

log = structlog.get_logger(__name__)

MAX_RECONNECTS = 3
HEALTHY_S = 60.0
MAX_BACKLOG = 500  # 10 s of 20 ms caller frames


BACKOFF_S = (0.05, 0.5, 1.5)  # a first drop is usually a blip: retry at once


def backoff_s(attempt: int) -> float:
    return BACKOFF_S[min(attempt, len(BACKOFF_S)) - 1]


class ModelLink:
    def __init__(
        self,
        config: EngineConfig,
        listener: ModelListener,
        log_: structlog.typing.FilteringBoundLogger = log,
    ) -> None:
        """The listener's `model_opened(reconnected)` returns the frames to send first
        (configuration, replayed history, the opening request); `model_gone(permanent, reason)`
        is called once, when the model is lost for good."""
        self._config = config
        self._on_frame = listener.model_frame  # bound once: no method object per frame
        self._on_opened = listener.model_opened
        self._on_gone = listener.model_gone
        self._log = log_
        self._ws: ModelSocket | None = None
        self._ready = False
        self._backlog: deque[str] = deque()
        self._closing = False
        self._rotate = False
        self.opened_at = 0.0
        self.reconnects = 0
        self.last_gap_ms: float | None = None
        self.dropped = 0

    @property
    def ready(self) -> bool:
        return self._ready

    def send(self, text: str) -> bool:
        """Send a client event at once, so events go out in the order they are made with no
        queue hop or coroutine per audio frame; held (bounded) while the socket is down or its
        write buffer full, and sent first when it is back. True when it was sent now, False when
        it was held (or dropped)."""
        ws = self._ws
        if ws is None or not self._ready or not ws.writable or self._backlog:
            self._hold(text)
            return False
        ws.send(text)
        return True

    def _hold(self, text: str) -> None:
        if len(self._backlog) < MAX_BACKLOG:
            self._backlog.append(text)
        else:
            self.dropped += 1

    def _flush(self) -> None:
        """What was held, in order, while the socket takes it."""
        ws, backlog = self._ws, self._backlog
        while backlog and ws is not None and ws.writable:
            ws.send(backlog.popleft())

    def _writable(self) -> None:
        if self._ready:
            self._flush()

    def rotate(self) -> None:
        """Replace the session by a new one (before the service's length cap)."""
        ws = self._ws
        if ws is not None and self._ready:
            self._rotate = True
            ws.close(1000, "session rotation")

    async def close(self) -> None:
        self._closing = True
        ws, self._ws = self._ws, None
        self._ready = False
        if ws is not None:
            ws.close(1000, "call ended")
            try:
                await asyncio.wait_for(ws.wait_closed(), 1.5)
            except Exception:  # not answered in time, or a frame's handler failed
                ws.cancel()

    async def run(self) -> None:
        api_key = self._config.openai_api_key or "offline-simulator"
        failures = 0
        reconnected = False
        lost_at: float | None = None
        while not self._closing:
            try:
                ws = await open_realtime(
                    self._config.openai_base_url,
                    self._config.realtime_model,
                    api_key,
                    lambda: ModelSocket(self._on_frame, self._writable),
                )
            except RealtimeError as exc:
                self._log.error("model_connect_failed", retryable=exc.retryable, status=exc.status)
                if exc.retryable and failures < MAX_RECONNECTS:
                    failures += 1
                    await asyncio.sleep(backoff_s(failures))
                    continue
                await self._on_gone(not exc.retryable, str(exc))
                return
            try:
                reason = await self._session(ws, lost_at, reconnected)
            except BaseException:  # cancelled (the call is over), or a frame's handler failed
                ws.cancel()
                raise
            if reason is None:
                return
            if self._closing:
                return
            lost_at = time.monotonic()
            reconnected = True
            if self._rotate:
                self._rotate = False
                self._log.info("model_session_rotated")
                continue
            if lost_at - self.opened_at > HEALTHY_S:
                failures = 0
            if failures >= MAX_RECONNECTS:
                await self._on_gone(False, reason)
                return
            failures += 1
            self.reconnects += 1
            self._log.warning("model_socket_lost", reason=reason, attempt=failures)
            await asyncio.sleep(backoff_s(failures))

    async def _session(
        self, ws: ModelSocket, lost_at: float | None, reconnected: bool
    ) -> str | None:
        """Open one session on `ws` and wait for its end: why it ended, None when the call
        closed the link meanwhile."""
        if self._closing:  # the call ended while the socket opened
            ws.cancel()
            return None
        self._ws = ws
        self.opened_at = time.monotonic()
        frames = await self._on_opened(reconnected)
        if self._closing:
            ws.cancel()
            return None
        self._send_opening(ws, frames)
        # not kept while the session lasts: the session.update in it (the instructions, the
        # tool schemas) is several KiB per live call
        del frames
        if lost_at is not None:
            self.last_gap_ms = (time.monotonic() - lost_at) * 1000
            self._log.info("model_reconnected", gap_ms=round(self.last_gap_ms, 1))
        ws.start()
        reason = await ws.wait_closed()
        self._ready = False
        return reason

    def _send_opening(self, ws: ModelSocket, frames: list[str]) -> None:
        """The session's first frames, then what was held (and what arrives meanwhile), in
        order; then the link is ready. A socket that broke meanwhile is seen by `run`, which
        reconnects; one whose buffer filled sends the rest once it drains."""
        if not ws.writable and not ws.paused:
            return
        for text in frames:
            ws.send(text)
        self._ready = True
        self._flush()
