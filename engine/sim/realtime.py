"""A local, protocol-faithful simulator of the OpenAI Realtime API (GA) over WebSocket.

I/O lives here: an asyncio WebSocket server (picows' `websockets`-compatible layer: compiled
framing, so a benchmark's simulator takes less of the CPU it shares with the engine under test).
`ws://HOST:PORT/v1/realtime?model=...` speaks the GA Realtime protocol to the official `openai`
SDK (set `OPENAI_BASE_URL` to `base_url`); `ws://HOST:PORT/control` takes one JSON script
registration from another process (`engine.sim.realtime_control`).

This module is the server: it routes handshakes (`realtime_handshake` decides refusals), owns
the scripts and every `SimSession` (`realtime_session`, one per connection, with its parts:
`realtime_session_config`, `realtime_conversation`, `realtime_input`, `realtime_responder`).
The pure parts: scripts (`realtime_script`), session-config rules (`realtime_session_rules`),
client items (`realtime_items`), field checks (`realtime_validation`), reply audio
(`realtime_reply_audio`); the energy VAD is `engine.sim.vad`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from collections import deque
from collections.abc import Iterator, Sequence
from urllib.parse import parse_qs, urlsplit

import structlog
from picows.websockets import (
    Request,
    Response,
    Server,
    ServerConnection,
    ServerHandshakeConnection,
    serve,
)

from engine.sim.realtime_control import handle_control, register_script
from engine.sim.realtime_handshake import CONTROL_PATH, REALTIME_PATH, refusal
from engine.sim.realtime_outbox import SEND_TIMEOUT_S
from engine.sim.realtime_reply_audio import speech_for
from engine.sim.realtime_script import Reply, Script
from engine.sim.realtime_session import CLIENT_EVENTS, SimSession
from engine.sim.standalone import serve_until_cancelled
from engine.sim.ws_connection import abort_connection
from engine.sim.ws_server import close_server

__all__ = [
    "CLIENT_EVENTS",
    "CONTROL_PATH",
    "REALTIME_PATH",
    "SEND_TIMEOUT_S",
    "RealtimeSimulator",
    "Reply",
    "Script",
    "SimSession",
    "abort_connection",
    "main",
    "register_script",
    "run_standalone",
    "serve_forever",
]

log = structlog.get_logger(__name__)

MAX_MESSAGE_BYTES = 15 * 1024 * 1024
CLOSE_TIMEOUT_S = 5.0


class RealtimeSimulator:
    """The simulator server: routes handshakes, owns the scripts and every `SimSession`.

    `stop()` closes every session (code 1001) and waits for their handlers; `drop_all()` cuts
    live sockets without a close frame, as a network failure or a crashed upstream would.
    `record_audio_events=False` keeps input appends out of `SimSession.received` and audio
    deltas out of `SimSession.sent` (long benchmarks: memory); `append_times` and `audio_in`
    are always kept.
    """

    def __init__(
        self,
        *,
        api_keys: set[str] | None = None,
        chunk_ms: int = 100,
        pace: float = 4.0,
        first_audio_delay_ms: int = 0,
        default_script: Script | None = None,
        record_audio_events: bool = True,
    ) -> None:
        if chunk_ms <= 0 or pace < 0 or first_audio_delay_ms < 0:
            raise ValueError("chunk_ms must be > 0, pace and first_audio_delay_ms >= 0")
        self.api_keys = api_keys
        self.chunk_ms, self.pace, self.first_audio_delay_ms = chunk_ms, pace, first_audio_delay_ms
        self.default_script = default_script
        self.record_audio_events = record_audio_events
        self.sessions: list[SimSession] = []
        self.port = 0
        self._host = "127.0.0.1"
        self._scripts: list[tuple[str, Script]] = []
        self._failures: deque[int] = deque()
        self._server: Server | None = None
        if default_script is not None:
            self._warm(default_script)

    @property
    def base_url(self) -> str:
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"http://{host}:{self.port}/v1"

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._host = host
        self._server = await serve(
            self._handle,
            host,
            port,
            process_request=self._process_request,
            max_size=MAX_MESSAGE_BYTES,
            compression=None,
            open_timeout=10,
            close_timeout=CLOSE_TIMEOUT_S,
            ping_interval=20,
            ping_timeout=20,
        )
        self.port = self._server.sockets[0].getsockname()[1]
        log.info("sim_realtime_started", base_url=self.base_url)

    async def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        if not await close_server(server, 2 * CLOSE_TIMEOUT_S):
            log.warning("sim_realtime_stop_timeout")
            self.drop_all()
        log.info("sim_realtime_stopped", sessions=len(self.sessions))

    async def __aenter__(self) -> RealtimeSimulator:
        await self.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.stop()

    @staticmethod
    def _warm(script: Script) -> None:
        for reply in script.replies:
            speech_for(reply.text)

    def add_script(self, match: str, script: Script) -> None:
        """Sessions whose instructions contain `match` follow `script` (first match wins).

        Registering the same `match` again replaces its script in place: sessions opened later
        (say, after a reconnect) follow the new one; sessions that already used theirs keep it.
        """
        entries = [(m, s) if m != match else (m, script) for m, s in self._scripts]
        if not any(m == match for m, _ in self._scripts):
            entries.append((match, script))
        self._scripts = entries
        self._warm(script)

    def script_for(self, instructions: str) -> Script:
        for match, script in self._scripts:
            if match in instructions:
                return script
        return self.default_script or Script()

    def live_sessions(self) -> Iterator[SimSession]:
        return (s for s in self.sessions if not s.closed)

    def drop_all(self) -> None:
        for session in list(self.live_sessions()):
            session.abort()

    def fail_next_session(self, status: int = 401) -> None:
        """Reject the next realtime handshake with HTTP `status` (calls queue up)."""
        self._failures.append(status)

    def _process_request(
        self, connection: ServerHandshakeConnection, request: Request
    ) -> Response | None:
        return refusal(connection, request, self._failures, self.api_keys)

    async def _handle(self, ws: ServerConnection) -> None:
        assert ws.request is not None
        url = urlsplit(ws.request.path)
        if url.path == CONTROL_PATH:
            await handle_control(ws, self.add_script)
            return
        await self._serve_session(ws, parse_qs(url.query)["model"][0])

    async def _serve_session(self, ws: ServerConnection, model: str) -> None:
        """Run one Realtime connection's session to its end (subclasses may instrument it)."""
        session = SimSession(self, ws, model)
        self.sessions.append(session)
        await session.run()


async def run_standalone(
    port: int,
    host: str = "127.0.0.1",
    *,
    pace: float = 4.0,
    chunk_ms: int = 100,
    first_audio_delay_ms: int = 0,
) -> None:
    """Run a simulator until cancelled, logging its base URL (for `neurosphere sim realtime`)."""
    sim = RealtimeSimulator(pace=pace, chunk_ms=chunk_ms, first_audio_delay_ms=first_audio_delay_ms)
    await serve_until_cancelled(sim, host, port, log=log, event="sim_realtime_listening")


async def serve_forever(port: int) -> None:
    await run_standalone(port)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="neurosphere sim realtime", description="Run the OpenAI Realtime simulator."
    )
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument(
        "--pace",
        type=float,
        default=4.0,
        help="output audio speed vs real time (0: as fast as possible)",
    )
    parser.add_argument("--chunk-ms", type=int, default=100)
    parser.add_argument("--first-audio-delay-ms", type=int, default=0)
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(
            run_standalone(
                args.port,
                args.host,
                pace=args.pace,
                chunk_ms=args.chunk_ms,
                first_audio_delay_ms=args.first_audio_delay_ms,
            )
        )
    return 0
