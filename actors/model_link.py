"""The call actor's link to the realtime model: open, configure, read, reconnect. I/O.

One `ModelLink` per call. It opens the session (configuration, then the opening request: the
greeting, or the resume line), relays frames to the actor, and when the socket drops without
being asked to, reconnects with backoff - at most MAX_RECONNECTS times in a row, the budget
reset after a healthy minute - replaying the configuration and the conversation so far as
items, without a second greeting. Caller audio arriving during the gap is held (bounded) and
sent once the new session is up. A refused handshake (bad key, 4xx other than 408/429) is
permanent and not retried. It also rotates sessions before the service's length cap.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

import structlog
from picows.websockets import ClientConnection, ConnectionClosed

from actors.call_sockets import ModelListener
from engine.config import EngineConfig
from engine.realtime_client import RealtimeError, open_realtime
from engine.task_set import TaskSet

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
        self._tasks = TaskSet("model_link", log_)
        self._ws: ClientConnection | None = None
        self._ready = asyncio.Event()
        self._backlog: list[str] = []
        self._closing = False
        self._rotate = False
        self.opened_at = 0.0
        self.reconnects = 0
        self.last_gap_ms: float | None = None
        self.dropped = 0

    @property
    def ready(self) -> bool:
        return self._ready.is_set()

    async def send(self, text: str) -> bool:
        """Send a client event at once (a send only waits when the socket's buffer is full), so
        events go out in the order they are made with no queue hop per audio frame; held while
        the socket is down (bounded) and sent first on the next session. True when it was sent
        now, False when it was held (or dropped)."""
        ws = self._ws
        if ws is None or not self._ready.is_set():
            self._hold(text)
            return False
        try:
            await ws.send(text)
        except ConnectionClosed:
            self._hold(text)  # the reader sees the drop and reconnects
            return False
        return True

    def _hold(self, text: str) -> None:
        if len(self._backlog) < MAX_BACKLOG:
            self._backlog.append(text)
        else:
            self.dropped += 1

    def rotate(self) -> None:
        """Replace the session by a new one (before the service's length cap)."""
        ws = self._ws
        if ws is not None and self._ready.is_set():
            self._rotate = True
            self._tasks.spawn(ws.close(1000, "session rotation"))

    async def close(self) -> None:
        self._closing = True
        ws, self._ws = self._ws, None
        if ws is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(ws.close(1000, "call ended"), 1.5)
        await self._tasks.close()

    async def run(self) -> None:
        api_key = self._config.openai_api_key or "offline-simulator"
        failures = 0
        reconnected = False
        lost_at: float | None = None
        while not self._closing:
            try:
                ws = await open_realtime(
                    self._config.openai_base_url, self._config.realtime_model, api_key
                )
            except RealtimeError as exc:
                self._log.error("model_connect_failed", retryable=exc.retryable, status=exc.status)
                if exc.retryable and failures < MAX_RECONNECTS:
                    failures += 1
                    await asyncio.sleep(backoff_s(failures))
                    continue
                await self._on_gone(not exc.retryable, str(exc))
                return
            self._ws = ws
            self.opened_at = time.monotonic()
            if await self._send_opening(ws, await self._on_opened(reconnected)):
                self._ready.set()
            if lost_at is not None:
                self.last_gap_ms = (time.monotonic() - lost_at) * 1000
                self._log.info("model_reconnected", gap_ms=round(self.last_gap_ms, 1))
            reason = await self._read(ws)
            self._ready.clear()
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

    async def _send_opening(self, ws: ClientConnection, frames: list[str]) -> bool:
        """The session's first frames, then what was held (and what arrives meanwhile), in
        order. False when the socket broke: the reader then sees it and the link reconnects."""
        try:
            for text in frames:
                await ws.send(text)
            while self._backlog:
                text = self._backlog[0]
                await ws.send(text)
                self._backlog.pop(0)
        except ConnectionClosed:
            return False
        return True

    async def _read(self, ws: ClientConnection) -> str:
        try:
            on_frame = self._on_frame
            async for frame in ws:
                await on_frame(frame, time.perf_counter_ns())
        except ConnectionClosed as exc:
            return f"model socket broke ({exc.rcvd.code if exc.rcvd else 'no close frame'})"
        return f"model closed the socket ({ws.close_code})"
