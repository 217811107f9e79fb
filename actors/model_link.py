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
from collections.abc import Awaitable, Callable

import structlog
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

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
        *,
        on_frame: Callable[[str | bytes], Awaitable[None]],
        on_opened: Callable[[bool], Awaitable[list[str]]],
        on_gone: Callable[[bool, str], Awaitable[None]],
        log_: structlog.typing.FilteringBoundLogger = log,
    ) -> None:
        """`on_opened(reconnected)` returns the frames to send first (configuration, replayed
        history, the opening request); `on_gone(permanent, reason)` is called once, when the
        model is lost for good."""
        self._config = config
        self._on_frame = on_frame
        self._on_opened = on_opened
        self._on_gone = on_gone
        self._log = log_
        self._ws: ClientConnection | None = None
        self._ready = asyncio.Event()
        self._out: asyncio.Queue[tuple[str, int] | None] = asyncio.Queue()
        self._backlog: list[tuple[str, int]] = []
        self._closing = False
        self._rotate = False
        self.opened_at = 0.0
        self.reconnects = 0
        self.last_gap_ms: float | None = None
        self.dropped = 0
        self.sent_latency: Callable[[int], None] | None = None

    @property
    def ready(self) -> bool:
        return self._ready.is_set()

    def send(self, text: str, received_ns: int = 0) -> None:
        """Queue a client event; held while the socket is down (bounded)."""
        if self._ready.is_set():
            self._out.put_nowait((text, received_ns))
        elif len(self._backlog) < MAX_BACKLOG:
            self._backlog.append((text, 0))
        else:
            self.dropped += 1

    def rotate(self) -> None:
        """Replace the session by a new one (before the service's length cap)."""
        ws = self._ws
        if ws is not None and self._ready.is_set():
            self._rotate = True
            asyncio.get_running_loop().create_task(ws.close(1000, "session rotation"))

    async def close(self) -> None:
        self._closing = True
        self._out.put_nowait(None)
        ws, self._ws = self._ws, None
        if ws is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(ws.close(1000, "call ended"), 1.5)

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
            for text in await self._on_opened(reconnected):
                await ws.send(text)
            for item in self._backlog:
                await ws.send(item[0])
            self._backlog.clear()
            self._ready.set()
            if lost_at is not None:
                self.last_gap_ms = (time.monotonic() - lost_at) * 1000
                self._log.info("model_reconnected", gap_ms=round(self.last_gap_ms, 1))
            writer = asyncio.get_running_loop().create_task(self._write(ws))
            reason = await self._read(ws)
            self._ready.clear()
            writer.cancel()
            self._drain_to_backlog()
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

    async def _read(self, ws: ClientConnection) -> str:
        try:
            async for frame in ws:
                await self._on_frame(frame)
        except ConnectionClosed as exc:
            return f"model socket broke ({exc.rcvd.code if exc.rcvd else 'no close frame'})"
        return f"model closed the socket ({ws.close_code})"

    async def _write(self, ws: ClientConnection) -> None:
        while True:
            item = await self._out.get()
            if item is None:
                return
            text, received_ns = item
            try:
                await ws.send(text)
            except ConnectionClosed:
                self._backlog.append(item)  # resend on the next session
                return
            if received_ns and self.sent_latency is not None:
                self.sent_latency(received_ns)

    def _drain_to_backlog(self) -> None:
        while not self._out.empty():
            item = self._out.get_nowait()
            if item is not None and len(self._backlog) < MAX_BACKLOG:
                self._backlog.append(item)
