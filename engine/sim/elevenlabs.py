"""A local, protocol-faithful simulator of ElevenLabs' text-to-speech API: the WebSocket
`multi-stream-input` and `stream-input` endpoints and `GET /v1/voices`. I/O: one picows server
on 127.0.0.1 (the `websockets`-compatible layer), espeak-ng for real audible speech
(engine.sim.spoken).

Both sockets are `ws://HOST:PORT/v1/text-to-speech/{voice_id}/<endpoint>?model_id=..&
output_format=ulaw_8000` and take the key in the `xi-api-key` header (or the first message).
Audio comes as `{"audio", "alignment", "normalizedAlignment"}` per chunk - character timings
relative to the chunk.

- `multi-stream-input` carries up to MAX_CONTEXTS contexts at once, every message naming its
  `context_id` (the SDK's `contextId` is read too). A context's first message creates it (its
  settings); then text, `flush`, `{"text": ""}` to keep it alive, and `close_context` - which
  finishes speaking after a flush, and otherwise stops at once and drops the rest. Each context
  ends with `{"isFinal": true, "contextId"}`, and every audio message names its `contextId`.
  `close_socket` finishes every context and closes (1000). A sixth open context is an error.
- `stream-input` is one generation: the initial message (`{"text": " ", "voice_settings",
  "generation_config"}`), text chunks, `flush`, and `{"text": ""}` to end; then `{"isFinal":
  true}` and a close (1000).

Errors are an `{"message", "error", "code"}` message and a 1008 close, as the service does for
a refused key, an unknown voice, a bad first message, too many contexts or an idle socket
(`inactivity_timeout`).

Text is synthesised as the service does it: once the buffer holds the next entry of the chunk
length schedule (or at once with `try_trigger_generation` past the first entry), at a flush, and
at the end. The first audio of a generation comes `first_chunk_ms` after it starts (the
service's time to first byte); later audio runs `pace` times faster than real time.

Faults for tests: `fail_next(status)` refuses the next handshake with HTTP `status`,
`drop_after(chunks)` cuts the next socket without a close frame after that many audio chunks,
`stall_first(ms)` delays the next generation's first audio.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import re
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import structlog
from picows.websockets import (
    Request,
    Response,
    Server,
    ServerConnection,
    ServerHandshakeConnection,
    serve,
)
from picows.websockets.exceptions import ConnectionClosed

from engine.audio import BYTES_PER_MS
from engine.sim import spoken
from engine.sim.realtime import abort_connection

log = structlog.get_logger(__name__)

STREAM_PATH = re.compile(r"^/v1/text-to-speech/([^/]+)/(multi-stream-input|stream-input)$")
VOICES_PATH = "/v1/voices"
OUTPUT_FORMATS = frozenset({"ulaw_8000", "pcm_16000", "pcm_22050", "mp3_44100_128"})
CHUNK_MS = 500  # audio per message
DEFAULT_SCHEDULE = (120, 160, 250, 290)
POLICY = 1008
MAX_CONTEXTS = 5  # open contexts per multi-stream-input socket


@dataclass(frozen=True, slots=True)
class SimVoice:
    voice_id: str
    name: str
    category: str = "premade"
    lang: str = "en"
    labels: tuple[tuple[str, str], ...] = ()

    def wire(self) -> dict[str, Any]:
        return {
            "voice_id": self.voice_id,
            "name": self.name,
            "category": self.category,
            "labels": dict(self.labels),
            "description": None,
            "preview_url": None,
            "settings": {"stability": 0.5, "similarity_boost": 0.75, "speed": 1.0},
            "high_quality_base_model_ids": ["eleven_flash_v2_5", "eleven_multilingual_v2"],
        }


DEFAULT_VOICES = (
    SimVoice("21m00Tcm4TlvDq8ikWAM", "Rachel", labels=(("accent", "american"),)),
    SimVoice("EXAVITQu4vr4xnSDxMaL", "Sarah", labels=(("accent", "american"),)),
    SimVoice("pNInz6obpgDQGcFmaJgB", "Adam", labels=(("accent", "american"),)),
    SimVoice("VR6AewLTigWG4xSOukaG", "Valentina", lang="es", labels=(("accent", "latin"),)),
)


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


def _alignment(text: str, total_ms: int) -> tuple[list[int], list[int]]:
    """Character starts and durations over `total_ms`: letters weigh 2, others 1."""
    weights = [2 if c.isalnum() else 1 for c in text]
    unit = total_ms / max(1, sum(weights))
    starts, durations, at = [], [], 0.0
    for w in weights:
        starts.append(round(at))
        durations.append(max(1, round(w * unit)))
        at += w * unit
    return starts, durations


def _chunk_messages(text: str, audio: bytes) -> list[dict[str, Any]]:
    """`audio` (speaking `text`) as the service's messages: CHUNK_MS of audio each, with the
    characters whose start falls in it, timed relative to the chunk."""
    total_ms = len(audio) // BYTES_PER_MS
    starts, durations = _alignment(text, total_ms)
    step = CHUNK_MS * BYTES_PER_MS
    messages = []
    for offset in range(0, len(audio), step):
        lo, hi = offset // BYTES_PER_MS, (offset + step) // BYTES_PER_MS
        last = offset + step >= len(audio)
        idx = [i for i, s in enumerate(starts) if lo <= s < hi or (last and s >= hi)]
        align = {
            "chars": [text[i] for i in idx],
            "charStartTimesMs": [starts[i] - lo for i in idx],
            "charsDurationsMs": [durations[i] for i in idx],
        }
        messages.append(
            {
                "audio": base64.b64encode(audio[offset : offset + step]).decode(),
                "alignment": align,
                "normalizedAlignment": align,
            }
        )
    return messages


class _Generation:
    """One generation's text buffer and its speaker: text is synthesised once the buffer holds
    the next entry of the chunk length schedule, at a flush, and at the end."""

    def __init__(
        self,
        sim: ElevenLabsSimulator,
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
            for message in _chunk_messages(piece, audio):
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


class _Socket:
    """One socket: the key check, the inactivity timeout, and its generations - the one of a
    `stream-input` socket, or the contexts of a `multi-stream-input` socket."""

    def __init__(
        self, sim: ElevenLabsSimulator, ws: ServerConnection, template: SimStream, multi: bool
    ) -> None:
        self._sim, self._ws, self._template, self._multi = sim, ws, template, multi
        self._drop_after = sim.take_drop()
        self._chunks = [0]  # audio messages sent on the socket, over all its generations
        self._live: dict[str, _Generation] = {}
        self._generations: list[_Generation] = []
        self._authorised = False

    async def error(self, message: str, error: str) -> None:
        with contextlib.suppress(ConnectionClosed):
            await self._ws.send(json.dumps({"message": message, "error": error, "code": POLICY}))
            await self._ws.close(POLICY, error)
        for gen in self._generations:
            gen.stream.closed_code = POLICY

    async def run(self, key_in_header: bool) -> None:
        self._authorised = key_in_header
        try:
            await self._read()
        finally:
            for gen in self._generations:
                if not gen.closing:
                    gen.speaker.cancel()
                with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
                    await gen.speaker

    def _open(self, context_id: str | None, msg: dict[str, Any]) -> _Generation:
        t = self._template
        stream = SimStream(
            t.voice_id, t.query, key=t.key, context_id=context_id, socket=t.socket, received=[msg]
        )
        self._sim.streams.append(stream)
        gen = _Generation(self._sim, self._ws, stream, self._chunks, self._drop_after)
        gen.configure(msg)
        self._generations.append(gen)
        return gen

    async def _read(self) -> None:
        timeout = float(self._template.query.get("inactivity_timeout", "20"))
        while True:
            try:
                raw = await asyncio.wait_for(self._ws.recv(), timeout)
            except TimeoutError:
                await self.error(
                    f"Have not received new text for {timeout:g} seconds. Closing connection.",
                    "input_timeout_exceeded",
                )
                return
            except ConnectionClosed:
                return
            try:
                msg = json.loads(raw)
                if not isinstance(msg, dict):
                    raise ValueError
            except ValueError:
                await self.error("Invalid message: not a JSON object.", "invalid_message")
                return
            if not self._authorised:
                key = msg.get("xi-api-key")
                if not self._sim.key_ok(key if isinstance(key, str) else None):
                    await self.error("Invalid API key", "invalid_api_key")
                    return
                self._authorised = True
            done = await (self._multi_message(msg) if self._multi else self._single_message(msg))
            if done:
                return

    async def _single_message(self, msg: dict[str, Any]) -> bool:
        text = msg.get("text")
        if not isinstance(text, str):
            await self.error("Invalid message: a 'text' field is required.", "invalid_message")
            return True
        if not self._generations:
            if text != " ":
                await self.error(
                    "The first message must be a single space with the settings.",
                    "invalid_initial_message",
                )
                return True
            self._open(None, msg)
            return False
        gen = self._generations[0]
        gen.stream.received.append(msg)
        if text == "":  # end of input
            await gen.end()
            await self._ws.wait_closed()
            return True
        await gen.feed(
            text, flush=msg.get("flush") is True, trigger=bool(msg.get("try_trigger_generation"))
        )
        return False

    async def _multi_message(self, msg: dict[str, Any]) -> bool:
        if msg.get("close_socket") is True:
            for open_gen in list(self._live.values()):
                await open_gen.end()
            for each in self._generations:
                with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
                    await each.speaker
            with contextlib.suppress(ConnectionClosed):
                await self._ws.close(1000)
            return True
        raw_id = msg.get("context_id", msg.get("contextId", ""))
        text = msg.get("text")
        if not isinstance(raw_id, str) or not (text is None or isinstance(text, str)):
            await self.error("Invalid message: bad 'text' or 'context_id'.", "invalid_message")
            return True
        for cid in [c for c, g in self._live.items() if g.stream.final]:
            del self._live[cid]
        gen = self._live.get(raw_id)
        if msg.get("close_context") is True:
            if gen is not None:
                gen.stream.received.append(msg)
                del self._live[raw_id]  # the id may be used again, for a new context
                await (gen.end() if gen.flushed else gen.stop())
            return False
        if gen is None:
            # a closed context counts until its final message
            if sum(not g.stream.final for g in self._generations) >= MAX_CONTEXTS:
                await self.error(
                    f"Maximum simultaneous contexts per WebSocket connection exceeded "
                    f"({MAX_CONTEXTS}). Please close an existing context before opening a new one.",
                    "max_active_conversations",
                )
                return True
            gen = self._live[raw_id] = self._open(raw_id, msg)
        else:
            gen.stream.received.append(msg)
        if text:  # "" keeps a context alive; None is a control message
            await gen.feed(text, flush=msg.get("flush") is True)
        elif msg.get("flush") is True:
            await gen.feed("", flush=True)
        return False


def _json(connection: ServerHandshakeConnection, status: int, body: dict[str, Any]) -> Response:
    response = connection.respond(status, json.dumps(body))
    del response.headers["Content-Type"]
    response.headers["Content-Type"] = "application/json"
    return response


def _detail(
    connection: ServerHandshakeConnection, status: int, kind: str, message: str
) -> Response:
    return _json(connection, status, {"detail": {"status": kind, "message": message}})


class ElevenLabsSimulator:
    """The simulator server: the voices endpoint and every text-to-speech socket."""

    def __init__(
        self,
        *,
        api_keys: set[str] | None = None,
        voices: Sequence[SimVoice] = DEFAULT_VOICES,
        first_chunk_ms: int = 150,
        pace: float = 2.0,
    ) -> None:
        if first_chunk_ms < 0 or pace < 0:
            raise ValueError("first_chunk_ms and pace must be >= 0")
        self.api_keys = api_keys
        self.voices = {v.voice_id: v for v in voices}
        self.first_chunk_ms, self.pace = first_chunk_ms, pace
        self.streams: list[SimStream] = []
        self.handshakes = 0  # stream sockets opened
        self.voice_requests = 0
        self.port = 0
        self._failures: deque[int] = deque()
        self._drops: deque[int] = deque()
        self._stalls: deque[int] = deque()
        self._server: Server | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def key_ok(self, key: str | None) -> bool:
        return bool(key) and (self.api_keys is None or key in self.api_keys)

    def lang_of(self, voice_id: str) -> str:
        voice = self.voices.get(voice_id)
        return voice.lang if voice is not None else "en"

    def fail_next(self, status: int = 503) -> None:
        self._failures.append(status)

    def drop_after(self, chunks: int) -> None:
        self._drops.append(chunks)

    def stall_first(self, ms: int) -> None:
        self._stalls.append(ms)

    def take_drop(self) -> int | None:
        return self._drops.popleft() if self._drops else None

    def take_stall(self) -> int:
        return self._stalls.popleft() if self._stalls else 0

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._server = await serve(
            self._handle, host, port, process_request=self._process_request, compression=None
        )
        self.port = self._server.sockets[0].getsockname()[1]
        log.info("sim_elevenlabs_started", base_url=self.base_url)

    async def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.close(close_connections=True)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(3):
                await server.wait_closed()

    async def __aenter__(self) -> ElevenLabsSimulator:
        await self.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.stop()

    def _process_request(
        self, connection: ServerHandshakeConnection, request: Request
    ) -> Response | None:
        url = urlsplit(request.path)
        key = request.headers.get("xi-api-key")
        if url.path == VOICES_PATH:
            self.voice_requests += 1
            if self._failures:
                status = self._failures.popleft()
                return _detail(connection, status, "service_unavailable", HTTPStatus(status).phrase)
            if not self.key_ok(key):
                return _detail(connection, 401, "invalid_api_key", "Invalid API key")
            return _json(connection, 200, {"voices": [v.wire() for v in self.voices.values()]})
        match = STREAM_PATH.match(url.path)
        if match is None:
            return _json(connection, 404, {"detail": "Not Found"})
        if self._failures:
            status = self._failures.popleft()
            log.info("sim_elevenlabs_handshake_failed_on_purpose", status=status)
            return _detail(connection, status, "service_unavailable", HTTPStatus(status).phrase)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        if query.get("output_format", "mp3_44100_128") not in OUTPUT_FORMATS:
            return _detail(connection, 422, "invalid_output_format", "Unsupported output_format")
        return None

    async def _handle(self, ws: ServerConnection) -> None:
        assert ws.request is not None
        url = urlsplit(ws.request.path)
        match = STREAM_PATH.match(url.path)
        assert match is not None
        voice_id = unquote(match.group(1))
        self.handshakes += 1
        header_key = ws.request.headers.get("xi-api-key")
        template = SimStream(
            voice_id,
            {k: v[0] for k, v in parse_qs(url.query).items()},
            key=header_key or "",
            socket=self.handshakes,
        )
        session = _Socket(self, ws, template, multi=match.group(2) == "multi-stream-input")
        if header_key is not None and not self.key_ok(header_key):
            await session.error("Invalid API key", "invalid_api_key")
            return
        if voice_id not in self.voices:
            await session.error(
                f"A voice with voice_id {voice_id} does not exist.", "voice_not_found"
            )
            return
        await session.run(key_in_header=header_key is not None)
