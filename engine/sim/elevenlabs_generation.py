"""One ElevenLabs generation in the simulator: its text buffer, and the task that speaks it.

I/O: sends the generation's audio messages (and its final message) on the socket it came on,
synthesising speech with espeak-ng (engine.sim.spoken) in a worker thread. Text is synthesised
once the buffer holds the next entry of the chunk length schedule, at a flush, and at the end.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass, field
from typing import Any, Protocol

import structlog
from picows.websockets import ServerConnection
from picows.websockets.exceptions import ConnectionClosed

from engine.sim import spoken
from engine.sim.elevenlabs_chunks import CHUNK_MS, chunk_messages
from engine.sim.ws_connection import abort_connection

log = structlog.get_logger("engine.sim.elevenlabs")

DEFAULT_SCHEDULE = (120, 160, 250, 290)


@dataclass
class SimStream:
    """One generation as the simulator saw it: a `stream-input` socket, or one context of a
    `multi-stream-input` socket."""

    voice_id: str
    query: dict[str, str]
    received: list[dict[str, Any]] = field(default_factory=list)
    spoken_text: str = ""  # the characters of the audio sent, in order
    audio_chunks: int = 0
    closed_code: int | None = None
    final: bool = False  # `isFinal` sent
    key: str = field(default="", repr=False)  # the xi-api-key it was opened with
    context_id: str | None = None  # None on a stream-input socket
    stopped: bool = False  # closed while it still had text to speak (a barge-in)
    socket: int = 0  # the handshake it came on (1, 2, ...)


class VoiceServer(Protocol):
    """What a socket and its generations read from the simulator (engine.sim.elevenlabs)."""

    first_chunk_ms: int
    pace: float
    streams: list[SimStream]

    def key_ok(self, key: str | None) -> bool: ...

    def lang_of(self, voice_id: str) -> str: ...

    def take_drop(self) -> int | None: ...

    def take_stall(self) -> int: ...


class Generation:
    """One generation's text buffer and its speaker: text is synthesised once the buffer holds
    the next entry of the chunk length schedule, at a flush, and at the end."""

    def __init__(
        self,
        sim: VoiceServer,
        ws: ServerConnection,
        stream: SimStream,
        socket_chunks: list[int],
        drop_after: int | None,
    ) -> None:
        self._sim, self._ws, self.stream = sim, ws, stream
        self._socket_chunks, self._drop_after = socket_chunks, drop_after
        self._buffer = ""
        self._schedule: list[int] = list(DEFAULT_SCHEDULE)
        self._first_sent = False
        self._stall_ms = sim.take_stall()
        self._queue: asyncio.Queue[str | None] = asyncio.Queue()
        self._busy = False
        self.flushed = False  # nothing buffered since the last flush
        self.closing = False
        self.speaker = asyncio.get_running_loop().create_task(self._speak())

    def configure(self, msg: dict[str, Any]) -> None:
        config = msg.get("generation_config") or {}
        schedule = config.get("chunk_length_schedule") if isinstance(config, dict) else None
        if isinstance(schedule, list) and schedule:
            self._schedule = [int(n) for n in schedule]

    @property
    def idle(self) -> bool:
        return not self._buffer.strip() and self._queue.empty() and not self._busy

    async def feed(self, text: str, *, flush: bool, trigger: bool = False) -> None:
        self._buffer += text
        self.flushed = flush or (self.flushed and not text.strip())
        threshold = self._schedule[0]
        if (
            not flush
            and len(self._buffer) < threshold
            and not (trigger and len(self._buffer) >= min(self._schedule[0], 50))
        ):
            return
        cut = len(self._buffer) if flush else self._buffer.rfind(" ") + 1
        piece, self._buffer = self._buffer[:cut], self._buffer[cut:]
        if not piece.strip():
            return
        if len(self._schedule) > 1:
            self._schedule.pop(0)
        await self._queue.put(piece)

    async def end(self) -> None:
        """Speak what is left, then the final message."""
        self.closing = True
        await self.feed("", flush=True)
        await self._queue.put("")

    async def stop(self) -> None:
        """Drop what is not spoken yet, then the final message."""
        self.closing = True
        self.stream.stopped = not self.idle
        self._buffer = ""
        while not self._queue.empty():
            self._queue.get_nowait()
        await self._queue.put("")

    async def _send(self, message: dict[str, Any]) -> None:
        if self.stream.context_id is not None:
            message["contextId"] = self.stream.context_id
        await self._ws.send(json.dumps(message))

    async def _final(self) -> None:
        if self.stream.context_id is None:
            final = {"audio": None, "isFinal": True, "alignment": None, "normalizedAlignment": None}
        else:
            final = {"isFinal": True}
        with contextlib.suppress(ConnectionClosed):
            await self._send(final)
            self.stream.final = True
            if self.stream.context_id is None:  # stream-input: the socket ends with it
                await self._ws.close(1000)
                self.stream.closed_code = 1000

    async def _speak(self) -> None:
        sim, stream = self._sim, self.stream
        loop = asyncio.get_running_loop()
        while (piece := await self._queue.get()) is not None:
            if piece == "":
                await self._final()
                return
            self._busy = True
            began = loop.time()
            audio = await asyncio.to_thread(
                spoken.speak, piece.strip() + " ", sim.lang_of(stream.voice_id)
            )
            if not self._first_sent:
                wait = (sim.first_chunk_ms + self._stall_ms) / 1000 - (loop.time() - began)
                if wait > 0:
                    await asyncio.sleep(wait)
            out_ms = 0.0
            start = loop.time()
            for message in chunk_messages(piece, audio):
                if self._queue.qsize() and self.stream.stopped:
                    break  # closed mid-piece: the rest of it is not generated
                if self._drop_after is not None and self._socket_chunks[0] >= self._drop_after:
                    log.info("sim_elevenlabs_dropped_on_purpose")
                    abort_connection(self._ws)
                    return
                if sim.pace > 0:
                    ahead = start + out_ms / 1000 / sim.pace - loop.time()
                    if ahead > 0:
                        await asyncio.sleep(ahead)
                try:
                    await self._send(message)
                except ConnectionClosed:
                    return
                self._first_sent = True
                stream.audio_chunks += 1
                self._socket_chunks[0] += 1
                stream.spoken_text += "".join(message["alignment"]["chars"])
                out_ms += CHUNK_MS
            self._busy = False
