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

This module is the server: handshakes, the voices endpoint and the faults. A socket's protocol
is `engine.sim.elevenlabs_socket`, a generation's buffer and speaker
`engine.sim.elevenlabs_generation`, the audio messages `engine.sim.elevenlabs_chunks`, the
voices `engine.sim.elevenlabs_voices`.

Faults for tests: `fail_next(status)` refuses the next handshake with HTTP `status`,
`drop_after(chunks)` cuts the next socket without a close frame after that many audio chunks,
`stall_first(ms)` delays the next generation's first audio.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Sequence
from http import HTTPStatus
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

from engine.sim.elevenlabs_generation import SimStream
from engine.sim.elevenlabs_socket import SimSocket
from engine.sim.elevenlabs_voices import DEFAULT_VOICES, SimVoice
from engine.sim.ws_server import close_server, json_response

log = structlog.get_logger(__name__)

STREAM_PATH = re.compile(r"^/v1/text-to-speech/([^/]+)/(multi-stream-input|stream-input)$")
VOICES_PATH = "/v1/voices"
OUTPUT_FORMATS = frozenset({"ulaw_8000", "pcm_16000", "pcm_22050", "mp3_44100_128"})


def _detail(
    connection: ServerHandshakeConnection, status: int, kind: str, message: str
) -> Response:
    return json_response(connection, status, {"detail": {"status": kind, "message": message}})


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
        await close_server(server, 3)

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
            return json_response(
                connection, 200, {"voices": [v.wire() for v in self.voices.values()]}
            )
        match = STREAM_PATH.match(url.path)
        if match is None:
            return json_response(connection, 404, {"detail": "Not Found"})
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
        session = SimSocket(self, ws, template, multi=match.group(2) == "multi-stream-input")
        if header_key is not None and not self.key_ok(header_key):
            await session.error("Invalid API key", "invalid_api_key")
            return
        if voice_id not in self.voices:
            await session.error(
                f"A voice with voice_id {voice_id} does not exist.", "voice_not_found"
            )
            return
        await session.run(key_in_header=header_key is not None)
