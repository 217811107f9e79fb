"""CallActor: one live phone call, single use.

State it owns: the Twilio media WebSocket server (on its own port), the realtime model socket,
the call's state machine (engine.call_state), the rolling deque of turns and their write-behind
to the memory pool, and the call's measurements. Audio never leaves this process: Twilio's
mu-law payloads go to the model untouched and the model's deltas go back untouched, and no Ray
call is made per frame - Ray is used for claim, turn batches and the end-of-call report.

Idempotent methods: `start` (returns the same port), `prepare` for the same call (returns the
same URL), `check_health`.

When it dies mid-call: Twilio's stream breaks and Twilio requests the `<Connect action>`; the
webhook finds no outcome on the call row and decides what the caller gets next. Turns not yet
flushed (at most a quarter second of conversation) are lost; everything earlier is in Postgres.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import random
import time
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any

import structlog
from twilio.request_validator import RequestValidator
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from actors.ports import CallLifecycle, CallReport, CallSetup, MemoryClient
from actors.turn_writer import TurnWriter
from engine import call_state as cs
from engine import realtime_codec as rt
from engine import twilio_codec as tw
from engine.config import EngineConfig
from engine.histogram import Histogram
from engine.realtime_client import RealtimeError, open_realtime
from memory.models import CallEnd, CallStart
from prompts.context import CallerContext, pack_context
from prompts.greeting import choose_greeting
from prompts.instructions import AgentPrompt, build_instructions, greeting_request

log = structlog.get_logger(__name__)

STREAM_CONNECT_TIMEOUT_S = 30.0
FINISH_STEP_TIMEOUT_S = 1.5
MAX_BUFFERED_INBOUND = 500  # 10 s of 20 ms frames while the model socket is not open yet
TWILIO_MAX_MESSAGE = 64 * 1024


class CallActor:
    def __init__(
        self,
        config: EngineConfig,
        memory: MemoryClient,
        lifecycle: CallLifecycle | None = None,
    ) -> None:
        self._config = config
        self._memory = memory
        self._lifecycle = lifecycle
        self._server: Server | None = None
        self._port: int | None = None
        self._setup: CallSetup | None = None
        self._media_url = ""
        self._state: cs.CallState | None = None
        self._twilio: ServerConnection | None = None
        self._model: ClientConnection | None = None
        self._model_ready = asyncio.Event()
        self._twilio_out: asyncio.Queue[tuple[str, int] | None] = asyncio.Queue()
        self._model_rx_ns = 0  # when the model frame being handled arrived
        self._model_out: asyncio.Queue[tuple[str, int] | None] = asyncio.Queue()
        self._inbound_backlog: list[str] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        self._turns: TurnWriter | None = None
        self._done = asyncio.Event()
        self._finishing = False
        self._prepared_at = 0.0
        self._stream_started_at: float | None = None
        self._greeting_ms: float | None = None
        self._turn_ms: list[float] = []
        self._barge_ins = 0
        self._model_errors = 0
        self._frames_in = 0
        self._frames_out = 0
        self._dropped = 0
        self._inbound_latency = Histogram()
        self._outbound_latency = Histogram()
        self._log = log

    def __repr__(self) -> str:
        if self._setup is None:
            return "CallActor(warm)"
        return f"CallActor(call={self._setup.call_sid}, tenant={self._setup.tenant.tenant_id})"

    # --- control plane ---------------------------------------------------------------------

    async def start(self) -> int:
        """Bind the media WebSocket server on a free port of the configured range."""
        if self._port is not None:
            return self._port
        low, high = self._config.media_port_range
        ports = list(range(low, high + 1))
        offset = random.randrange(len(ports))
        for port in ports[offset:] + ports[:offset]:
            try:
                self._server = await serve(
                    self._handle_twilio,
                    self._config.media_bind_host,
                    port,
                    process_request=self._check_handshake,
                    max_size=TWILIO_MAX_MESSAGE,
                    compression=None,
                    server_header=None,
                )
            except OSError as exc:
                if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                    continue
                raise
            self._port = port
            return port
        raise RuntimeError(f"no free media port in {low}-{high}")

    async def prepare(self, setup: CallSetup) -> str:
        """Take on a call: returns the media URL at once; the model session (with the greeting
        requested, its audio buffered) and the call row are set up in the background."""
        if self._setup is not None:
            if self._setup.call_sid == setup.call_sid:
                return self._media_url
            raise RuntimeError("this call actor already serves another call")
        port = await self.start()
        self._setup = setup
        self._log = log.bind(call_sid=setup.call_sid, tenant_id=setup.tenant.tenant_id)
        self._media_url = self._config.media_url(port, setup.call_sid)
        self._state = cs.new_call(setup.call_sid, setup.media_token)
        self._turns = TurnWriter(self._memory, setup.memory_token, setup.call_sid)
        self._prepared_at = time.monotonic()
        self._spawn(self._record_start())
        self._spawn(self._run_model())
        self._spawn(self._turns.run())
        self._spawn(self._write_twilio())
        self._spawn(self._stream_watchdog())
        self._log.info("call_prepared", port=port)
        return self._media_url

    async def check_health(self) -> dict[str, object]:
        state = self._state
        return {
            "port": self._port,
            "call_sid": self._setup.call_sid if self._setup else None,
            "phase": state.phase if state else "warm",
            "pending_turns": self._turns.pending if self._turns else 0,
        }

    async def wait_done(self, timeout: float) -> str | None:
        """Wait for the call to end; its outcome, or None on timeout (for tests and tools)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._done.wait(), timeout)
        return self._state.outcome if self._state and self._done.is_set() else None

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self._log.error("call_task_failed", error=repr(task.exception()))

    async def _record_start(self) -> None:
        setup = self._require_setup()
        assert self._turns is not None
        call = CallStart(setup.call_sid, setup.from_number, setup.to_number, setup.webhook_ms)
        for attempt in range(5):
            try:
                await asyncio.wait_for(self._memory.start_call(setup.memory_token, call), 3.0)
                self._turns.mark_ready()
                return
            except Exception as exc:
                self._log.warning("call_row_failed", attempt=attempt, error=repr(exc))
                await asyncio.sleep(0.2 * 2**attempt)

    async def _stream_watchdog(self) -> None:
        await asyncio.sleep(STREAM_CONNECT_TIMEOUT_S)
        await self._apply(cs.NoStream())

    def _require_setup(self) -> CallSetup:
        if self._setup is None:
            raise RuntimeError("call actor is not prepared")
        return self._setup

    # --- the model side -------------------------------------------------------------------

    def _instructions(self) -> tuple[str, str]:
        setup = self._require_setup()
        tenant = setup.tenant
        now = datetime.now(UTC)
        greeting = choose_greeting(
            new_caller_template=tenant.greeting_new,
            returning_template=tenant.greeting_returning,
            user_name=None,
            agent_name=tenant.agent_name,
            now=now,
            time_zone=tenant.time_zone,
        )
        agent = AgentPrompt(
            agency_name=tenant.name,
            agent_name=tenant.agent_name,
            sliders=dict(tenant.sliders),
            blocks=dict(tenant.blocks),
            time_zone=tenant.time_zone,
        )
        context = pack_context(
            CallerContext(profile=None, personality={}, summaries=(), memories=(), knowledge=()),
            now=now,
        )
        instructions = build_instructions(
            agent, caller_number=setup.from_number, context=context, greeting=greeting, now=now
        )
        return instructions, greeting

    async def _run_model(self) -> None:
        setup = self._require_setup()
        api_key = self._config.openai_api_key or "offline-simulator"
        try:
            instructions, greeting = self._instructions()
            model = await open_realtime(
                self._config.openai_base_url, self._config.realtime_model, api_key
            )
        except RealtimeError as exc:
            self._log.error("model_connect_failed", retryable=exc.retryable, status=exc.status)
            await self._apply(cs.ModelClosed(permanent=not exc.retryable, reason=str(exc)))
            return
        self._model = model
        tenant = setup.tenant
        await model.send(
            rt.session_update(instructions=instructions, voice=tenant.voice, vad=tenant.vad)
        )
        await model.send(rt.response_create(greeting_request(greeting)))
        for text in self._inbound_backlog:
            await model.send(text)
        self._inbound_backlog.clear()
        self._model_ready.set()
        writer = asyncio.get_running_loop().create_task(self._write_model(model))
        try:
            async for frame in model:
                await self._on_model_frame(frame)
            reason = f"model closed the socket ({model.close_code})"
        except ConnectionClosed as exc:
            reason = f"model socket broke ({exc.rcvd.code if exc.rcvd else 'no close frame'})"
        finally:
            writer.cancel()
            self._model_ready.clear()
        await self._apply(cs.ModelClosed(permanent=False, reason=reason))

    async def _on_model_frame(self, frame: str | bytes) -> None:
        self._model_rx_ns = time.perf_counter_ns()
        try:
            event = rt.decode_server_event(frame)
        except ValueError:
            self._log.warning("model_frame_rejected")
            return
        if event is None or isinstance(event, rt.SessionUpdated | rt.FunctionCall):
            return
        if isinstance(event, rt.ServerError) and event.code not in rt.BENIGN_ERROR_CODES:
            self._log.warning("model_error", code=event.code, message=event.message)
        await self._apply(event)

    async def _write_model(self, model: ClientConnection) -> None:
        queue = self._model_out
        while True:
            item = await queue.get()
            if item is None:
                return
            text, received_ns = item
            await model.send(text)
            if received_ns:
                self._inbound_latency.observe((time.perf_counter_ns() - received_ns) / 1000)

    def _send_model(self, text: str, received_ns: int = 0) -> None:
        if self._model_ready.is_set():
            self._model_out.put_nowait((text, received_ns))
        elif len(self._inbound_backlog) < MAX_BUFFERED_INBOUND:
            self._inbound_backlog.append(text)
        else:
            self._dropped += 1

    # --- the Twilio side ------------------------------------------------------------------

    def _check_handshake(self, connection: ServerConnection, request: Request) -> Response | None:
        setup = self._setup
        if setup is None or self._finishing:
            return connection.respond(HTTPStatus.SERVICE_UNAVAILABLE, "no call here\n")
        if self._twilio is not None:
            return connection.respond(HTTPStatus.CONFLICT, "stream already connected\n")
        token = setup.tenant.twilio_auth_token or self._config.twilio_auth_token
        signature = request.headers.get("X-Twilio-Signature", "")
        if (
            not token
            or not signature
            or not RequestValidator(token).validate(self._media_url, {}, signature)
        ):
            self._log.warning("media_handshake_rejected", reason="bad signature")
            return connection.respond(HTTPStatus.FORBIDDEN, "invalid signature\n")
        return None

    async def _handle_twilio(self, ws: ServerConnection) -> None:
        state = self._state
        if state is None or state.phase != "waiting" or self._twilio is not None:
            await ws.close(1008, "no stream expected")
            return
        self._twilio = ws
        reason = "closed"
        try:
            async for frame in ws:
                received = time.perf_counter_ns()
                try:
                    event = tw.decode(frame)
                except tw.ProtocolError as exc:
                    self._log.warning("twilio_frame_rejected", error=str(exc))
                    continue
                if isinstance(event, tw.Media):
                    self._on_caller_audio(event, received)
                elif isinstance(event, tw.Start | tw.Mark | tw.Dtmf | tw.Stop):
                    self._model_rx_ns = 0  # audio flushed now is not a model-to-caller relay
                    await self._apply(event)
                    if isinstance(event, tw.Start) and self._twilio is None:
                        return  # the start was refused: this socket is done
                elif isinstance(event, tw.Unknown):
                    self._log.info("twilio_event_ignored", twilio_event=event.event)
        except ConnectionClosed as exc:
            reason = f"broke ({exc.rcvd.code if exc.rcvd else 'no close frame'})"
        finally:
            if self._twilio is ws:
                self._twilio = None
                await self._apply(cs.StreamClosed(reason))

    def _on_caller_audio(self, event: tw.Media, received_ns: int) -> None:
        state = self._state
        if state is None or state.phase != "live":
            self._dropped += 1
            return
        self._frames_in += 1
        self._send_model(rt.audio_append(event.payload), received_ns)

    async def _write_twilio(self) -> None:
        queue = self._twilio_out
        while True:
            item = await queue.get()
            if item is None:
                return
            ws = self._twilio
            if ws is None:
                continue
            text, received_ns = item
            try:
                await ws.send(text)
            except ConnectionClosed:
                continue
            if received_ns:
                self._outbound_latency.observe((time.perf_counter_ns() - received_ns) / 1000)

    # --- the state machine ----------------------------------------------------------------

    async def _apply(self, event: cs.CallEvent) -> None:
        if self._state is None:
            return
        now = time.monotonic()
        self._state, commands = cs.step(self._state, event, now)
        if isinstance(event, tw.Start) and self._state.phase == "live":
            self._stream_started_at = now
            self._spawn(self._stream_connected(event.stream_sid))
        for command in commands:
            await self._execute(command, now)

    async def _stream_connected(self, stream_sid: str) -> None:
        setup = self._require_setup()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(
                self._memory.stream_connected(setup.memory_token, setup.call_sid, stream_sid), 3.0
            )
        self._log.info("stream_started", stream_sid=stream_sid)

    async def _execute(self, command: cs.Command, now: float) -> None:
        state = self._state
        assert state is not None
        assert self._turns is not None
        if isinstance(command, cs.SendMedia):
            self._frames_out += 1
            media = tw.encode_media(state.stream_sid, command.payload)
            self._twilio_out.put_nowait((media, self._model_rx_ns))
        elif isinstance(command, cs.SendMark):
            self._twilio_out.put_nowait((tw.encode_mark(state.stream_sid, command.name), 0))
        elif isinstance(command, cs.ClearPlayback):
            self._twilio_out.put_nowait((tw.encode_clear(state.stream_sid), 0))
        elif isinstance(command, cs.CancelResponse):
            self._send_model(rt.response_cancel())
        elif isinstance(command, cs.Truncate):
            self._send_model(rt.item_truncate(command.item_id, command.audio_end_ms))
        elif isinstance(command, cs.RecordTurn):
            self._turns.add(command.role, command.text, command.meta)
        elif isinstance(command, cs.Observe):
            self._observe(command)
        elif isinstance(command, cs.CloseStream):
            ws, self._twilio = self._twilio, None
            self._log.warning("stream_refused", reason=command.reason)
            if ws is not None:
                await ws.close(command.code, command.reason)
        elif isinstance(command, cs.EndCall):
            self._spawn(self._finish(command))

    def _observe(self, command: cs.Observe) -> None:
        if command.metric == "greeting_ms":
            self._greeting_ms = command.value
        elif command.metric == "turn_ms":
            self._turn_ms.append(command.value)
        elif command.metric == "barge_in":
            self._barge_ins += 1
        elif command.metric == "model_error":
            self._model_errors += 1

    async def _finish(self, end: cs.EndCall) -> None:
        """Finalise in an order the `<Connect action>` handler can rely on: the outcome is in
        Postgres before the Twilio socket closes."""
        if self._finishing:
            return
        self._finishing = True
        setup = self._require_setup()
        assert self._turns is not None
        started = self._stream_started_at or self._prepared_at
        record = CallEnd(
            outcome=end.outcome,
            detail=end.detail[:500],
            duration_ms=int((time.monotonic() - started) * 1000),
            greeting_ms=self._greeting_ms,
        )
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._turns.flush(), FINISH_STEP_TIMEOUT_S)
        try:
            await asyncio.wait_for(
                self._memory.finish_call(setup.memory_token, setup.call_sid, record),
                FINISH_STEP_TIMEOUT_S,
            )
        except Exception as exc:
            self._log.error("call_finish_failed", error=repr(exc))
        await self._close_sockets()
        self._log.info(
            "call_ended",
            outcome=end.outcome,
            detail=end.detail,
            greeting_ms=self._greeting_ms,
            frames_in=self._frames_in,
            frames_out=self._frames_out,
        )
        for task in list(self._tasks):
            if task is not asyncio.current_task():
                task.cancel()
        if self._turns.pending:  # one last try for anything written after the first flush
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._turns.flush(), FINISH_STEP_TIMEOUT_S)
        if self._lifecycle is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._lifecycle.call_ended(self._report(end)), 5.0)
        self._done.set()

    async def _close_sockets(self) -> None:
        self._twilio_out.put_nowait(None)
        ws, self._twilio = self._twilio, None
        if ws is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(ws.close(1000, "call ended"), FINISH_STEP_TIMEOUT_S)
        model, self._model = self._model, None
        if model is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(model.close(1000, "call ended"), FINISH_STEP_TIMEOUT_S)
        if self._server is not None:
            self._server.close()

    def _report(self, end: cs.EndCall) -> CallReport:
        setup = self._require_setup()
        return CallReport(
            call_sid=setup.call_sid,
            tenant_id=setup.tenant.tenant_id,
            outcome=end.outcome,
            greeting_ms=self._greeting_ms,
            turn_ms=tuple(self._turn_ms),
            barge_ins=self._barge_ins,
            model_errors=self._model_errors,
            frames_in=self._frames_in,
            frames_out=self._frames_out,
            dropped_frames=self._dropped,
            inbound_latency_us=tuple(self._inbound_latency.counts),
            outbound_latency_us=tuple(self._outbound_latency.counts),
        )
