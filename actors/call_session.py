"""CallSession: one live phone call, from `begin` to its end report. Runs inside a CallActor.

State it owns: the call's media WebSocket (handed over by the actor's server), the link to the
realtime model (actors/model_link.py), the call's state machine (engine.call_state), the rolling
deque of turns and their write-behind to the memory pool, running tools, and the call's
measurements. Audio never leaves the process: Twilio's mu-law payloads go to the model untouched
and the model's deltas go back untouched, and no Ray call is made per frame - Ray is used for
claim, turn batches, tools, hang-up/transfer and the end-of-call report.

A session is used once. Everything a call leaves behind (tasks, sockets, buffers, the caller's
context) belongs to its session object, so a CallActor that serves another call starts from a
new session and nothing of the previous caller can leak into it.

When the actor dies mid-call: Twilio's stream breaks and Twilio requests the `<Connect action>`;
the webhook finds no outcome on the call row and connects the call to a fresh actor, which
resumes from the turns in Postgres. Turns not yet flushed (at most a quarter second of
conversation) are lost; everything earlier is there.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Coroutine
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any, TypeVar
from urllib.parse import urlsplit

import structlog
from picows.websockets import ConnectionClosed, Request, ServerConnection
from twilio.request_validator import RequestValidator

from actors.call_tools import ToolContext, run_tool
from actors.model_link import ModelLink
from actors.ports import (
    CONTEXT_AGENDA,
    CallControl,
    CallLifecycle,
    CallReport,
    CallSetup,
    MemoryClient,
)
from actors.turn_writer import TurnWriter
from engine import call_state as cs
from engine import realtime_codec as rt
from engine import twilio_codec as tw
from engine.call_control import CallRules
from engine.config import EngineConfig, MediaAddress
from engine.histogram import Histogram
from engine.redact import redact
from engine.session_prompt import EMPTY_CONTEXT, session_prompt
from engine.tools import FILLER_AFTER_S, tool_specs
from memory.call_records import CallEnd, CallStart, Turn
from prompts import call_lines
from prompts.context import CallerContext
from prompts.instructions import greeting_request, resume_request

log = structlog.get_logger(__name__)

STREAM_CONNECT_TIMEOUT_S = 30.0
FINISH_STEP_TIMEOUT_S = 1.5
SETTLE_AFTER_REST_S = 5.0
TICK_S = 1.0
CONTEXT_TIMEOUT_S = 1.0
ROW_WAIT_S = 20.0  # as long as the call row's write is retried

T = TypeVar("T")


def _rules(setup: CallSetup) -> CallRules:
    tenant = setup.tenant
    return CallRules(
        silence_s=float(tenant.silence_timeout_s),
        max_call_s=float(tenant.max_call_seconds),
        dtmf=tenant.dtmf_actions,
        transfers=tenant.transfer_rules,
        fallback_number=tenant.fallback_number,
    )


def _recap(turns: list[Turn]) -> str:
    spoken = [t for t in turns if t.role in ("caller", "agent")][-6:]
    return "\n".join(f"{'Caller' if t.role == 'caller' else 'You'}: {t.text}" for t in spoken)


class CallSession:
    def __init__(
        self,
        config: EngineConfig,
        memory: MemoryClient,
        lifecycle: CallLifecycle | None,
        control: CallControl | None,
        address: MediaAddress,
    ) -> None:
        self._config = config
        self._memory = memory
        self._lifecycle = lifecycle
        self._control = control
        self._address = address
        self._setup: CallSetup | None = None
        self._media_url = ""
        self._media_path = ""  # the URL's path: what the actor's server routes a stream by
        self._state: cs.CallState | None = None
        self._twilio: ServerConnection | None = None
        self._model: ModelLink | None = None
        self._context: asyncio.Task[CallerContext] | None = None  # started by begin()
        self._model_rx_ns = 0  # when the model frame being handled arrived
        self._specs: dict[str, Any] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._turns: TurnWriter | None = None
        self._done = asyncio.Event()
        self._stream_seen = asyncio.Event()  # Twilio connected a stream (or never will)
        self._recorded = asyncio.Event()  # the outcome is in Postgres
        self._finishing = False
        self._prepared_at = 0.0
        self._timeline: dict[str, float] = {}  # first time each step happened, ms after begin
        self._stream_started_at: float | None = None
        self._greeting_ms: float | None = None
        self._turn_ms: list[float] = []
        self._tool_overhead_ms: list[float] = []
        self._barge_ins = 0
        self._model_errors = 0
        self._fillers = 0
        self._frames_in = 0
        self._frames_out = 0
        self._dropped = 0
        self._inbound_latency = Histogram()
        self._outbound_latency = Histogram()
        self._log = log

    def __repr__(self) -> str:
        if self._setup is None:
            return "CallSession(unused)"
        return f"call={self._setup.call_sid}, tenant={self._setup.tenant.tenant_id}"

    @property
    def call_sid(self) -> str | None:
        return self._setup.call_sid if self._setup is not None else None

    @property
    def media_url(self) -> str:
        return self._media_url

    @property
    def media_path(self) -> str:
        return self._media_path

    @property
    def done(self) -> bool:
        return self._done.is_set()

    # --- control plane ---------------------------------------------------------------------

    def begin(self, setup: CallSetup) -> str:
        """Take on the call: returns the media URL at once; the model session (with the greeting
        requested, its audio buffered) and the call row are set up in the background."""
        if self._setup is not None:
            raise RuntimeError("a call session is used once")
        port = self._address.port
        self._setup = setup
        self._log = log.bind(call_sid=setup.call_sid, tenant_id=setup.tenant.tenant_id)
        self._media_url = self._config.media_url(self._address, setup.call_sid)
        self._media_path = urlsplit(self._media_url).path
        self._state = cs.new_call(setup.call_sid, setup.media_token, _rules(setup))
        self._specs = dict(tool_specs(setup.tenant))
        self._turns = TurnWriter(
            self._memory, setup.memory_token, setup.call_sid, on_consolidate=self._consolidate
        )
        self._model = ModelLink(
            self._config,
            on_frame=self._on_model_frame,
            on_opened=self._on_model_opened,
            on_gone=self._on_model_gone,
            log_=self._log,
        )
        self._model.sent_latency = self._observe_inbound
        self._prepared_at = time.monotonic()
        # the caller's context is looked up while the model's socket opens, not after it
        self._context = self._spawn(self._caller_context())
        self._spawn(self._record_start())
        self._spawn(self._model.run())
        self._spawn(self._turns.run())
        self._spawn(self._stream_watchdog())
        self._spawn(self._tick())
        self._log.info("call_prepared", port=port, attempt=setup.attempt)
        return self._media_url

    async def check_health(self) -> dict[str, object]:
        state = self._state
        return {
            "port": self._address.port,
            "call_sid": self._setup.call_sid if self._setup else None,
            "phase": state.phase if state else "warm",
            "pending_turns": self._turns.pending if self._turns else 0,
            "model_reconnects": self._model.reconnects if self._model else 0,
            "model_gap_ms": self._model.last_gap_ms if self._model else None,
        }

    async def wait_done(self, timeout: float) -> str | None:
        """Wait for the call to end; its outcome, or None on timeout (for tests and tools)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._done.wait(), timeout)
        return self._state.outcome if self._state and self._done.is_set() else None

    async def shutdown(self, timeout: float = 5.0) -> str | None:
        """End whatever this actor is doing (engine shutdown, tests); returns the outcome."""
        if self._setup is None:
            return None
        if not self._finishing:
            await self._finish(cs.EndCall("engine_shutdown"))
        return await self.wait_done(timeout)

    async def drain(self, timeout: float = 2.0) -> bool:
        """Once the call is over: cancel what is left of its tasks and wait for them. False when
        something would not stop in time (the actor then serves no other call)."""
        tasks = [task for task in self._tasks if not task.done()]
        for task in tasks:
            task.cancel()
        if not tasks:
            return True
        _, pending = await asyncio.wait(tasks, timeout=timeout)
        return not pending

    def _spawn(self, coro: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self._log.error("call_task_failed", error=repr(task.exception()))

    def _require_setup(self) -> CallSetup:
        if self._setup is None:
            raise RuntimeError("call actor is not prepared")
        return self._setup

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

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(TICK_S)
            state = self._state
            if state is None or state.phase == "ended":
                return
            if state.phase != "live":
                continue
            await self._apply(cs.Tick())
            model = self._model
            if (
                model is not None
                and model.ready
                and time.monotonic() - model.opened_at > self._config.realtime_session_max_s
                and state.response_id is None
                and not state.pending
            ):
                model.rotate()

    # --- the model side -------------------------------------------------------------------

    async def _on_model_opened(self, reconnected: bool) -> list[str]:
        """The frames a new session starts with: configuration, then either the opening
        request (first session) or the conversation so far (after a drop)."""
        setup = self._require_setup()
        assert self._turns is not None
        tenant = setup.tenant
        now = datetime.now(UTC)
        earlier: list[Turn] = []
        if setup.attempt > 0 and not reconnected:
            earlier = await self._memory.load_turns(setup.memory_token, setup.call_sid)
            self._turns.preload(earlier)
        self._step("model_open")
        assert self._context is not None
        caller = await asyncio.shield(self._context)  # fetched once; a reconnect reuses it
        resumed = setup.attempt > 0
        prompt = session_prompt(
            tenant,
            caller_number=setup.from_number,
            context=caller,
            tools=tuple(self._specs),
            now=now,
            resumed_from=_recap(list(self._turns.history)) if resumed else None,
        )
        instructions, greeting = prompt.instructions, prompt.greeting
        frames = [
            rt.session_update(
                instructions=instructions,
                voice=tenant.voice,
                vad=tenant.vad,
                tools=[spec.session_entry() for spec in self._specs.values()] or None,
            )
        ]
        if reconnected or resumed:
            frames += self._replay()
        if reconnected:
            asyncio.get_running_loop().call_soon(self._spawn, self._apply(cs.ModelReconnected()))
        else:
            opening = resume_request() if resumed else greeting_request(greeting)
            asyncio.get_running_loop().call_soon(
                self._spawn, self._apply(cs.RequestResponse(opening))
            )
        return frames

    def _step(self, name: str) -> None:
        """Note when a set-up step first happened (the greeting's timeline, logged at the end)."""
        if name not in self._timeline:
            self._timeline[name] = round((time.monotonic() - self._prepared_at) * 1000, 1)

    async def _caller_context(self) -> CallerContext:
        """What we know about this caller (never an earlier call's turns), fetched before the
        greeting; a slow or failed lookup gives an empty context, not a silent line."""
        setup = self._require_setup()
        try:
            return await asyncio.wait_for(
                self._memory.caller_context(
                    setup.memory_token, setup.from_number, agenda=CONTEXT_AGENDA
                ),
                CONTEXT_TIMEOUT_S,
            )
        except Exception as exc:
            self._log.warning("caller_context_failed", error=repr(exc))
            return EMPTY_CONTEXT
        finally:
            self._step("caller_context")

    def _consolidate(self, turns: list[Turn]) -> None:
        setup = self._require_setup()

        async def run() -> None:
            try:
                stored = await self._memory.consolidate(
                    setup.memory_token, setup.from_number, setup.call_sid, turns
                )
                self._log.info("history_consolidated", turns=len(turns), stored=stored)
            except Exception as exc:
                self._log.warning("history_consolidation_failed", error=repr(exc))

        self._spawn(run())

    def _replay(self) -> list[str]:
        assert self._turns is not None
        frames: list[str] = []
        for turn in self._turns.history:
            if turn.role == "caller":
                frames.append(rt.conversation_text("user", turn.text))
            elif turn.role == "agent":
                frames.append(rt.conversation_text("assistant", turn.text))
            elif turn.role == "dtmf":
                frames.append(rt.conversation_text("user", call_lines.keypad(turn.text)))
        return frames

    async def _on_model_gone(self, permanent: bool, reason: str) -> None:
        await self._apply(cs.ModelClosed(permanent=permanent, reason=reason))

    async def _on_model_frame(self, frame: str | bytes) -> None:
        self._model_rx_ns = time.perf_counter_ns()
        try:
            event = rt.decode_server_event(frame)
        except ValueError:
            self._log.warning("model_frame_rejected")
            return
        if event is None or isinstance(event, rt.SessionUpdated):
            return
        if isinstance(event, rt.FunctionCall):
            self._spawn(self._run_tool(event, self._model_rx_ns))
            return
        if isinstance(event, rt.AudioDelta) and "model_audio" not in self._timeline:
            self._step("model_audio")
        if isinstance(event, rt.ServerError) and event.code not in rt.BENIGN_ERROR_CODES:
            self._log.warning("model_error", code=event.code, message=event.message)
        await self._apply(event)

    async def _run_tool(self, call: rt.FunctionCall, received_ns: int) -> None:
        setup = self._require_setup()
        assert self._turns is not None
        said = f"{call.name}({call.arguments})"
        if setup.tenant.pii_redaction:
            said = redact(said)
        self._turns.add("tool", said, {"call_id": call.call_id, "name": call.name})
        ctx = ToolContext(
            tenant=setup.tenant,
            call_sid=setup.call_sid,
            caller_number=setup.from_number,
            memory=self._memory,
            memory_token=setup.memory_token,
        )
        began = time.perf_counter()
        task = asyncio.get_running_loop().create_task(
            run_tool(self._specs.get(call.name), call.call_id, call.name, call.arguments, ctx)
        )
        done, _ = await asyncio.wait({task}, timeout=FILLER_AFTER_S)
        if not done:
            self._fillers += 1
            await self._apply(cs.RequestResponse(call_lines.FILLER))
        result = await task
        tool_ms = (time.perf_counter() - began) * 1000
        total_ms = (time.perf_counter_ns() - received_ns) / 1e6
        self._tool_overhead_ms.append(max(0.0, total_ms - tool_ms))
        self._log.info("tool_ran", tool=call.name, tool_ms=round(tool_ms, 2))
        await self._apply(result)

    def _observe_inbound(self, received_ns: int) -> None:
        self._inbound_latency.observe((time.perf_counter_ns() - received_ns) / 1000)

    # --- the Twilio side ------------------------------------------------------------------

    def handshake_refusal(self, request: Request) -> tuple[HTTPStatus, str] | None:
        """Why this media handshake may not open the call's stream, or None when it may."""
        setup = self._setup
        if setup is None or self._done.is_set():
            return HTTPStatus.SERVICE_UNAVAILABLE, "no call here"
        if self._twilio is not None:
            return HTTPStatus.CONFLICT, "stream already connected"
        token = setup.tenant.twilio_auth_token or self._config.twilio_auth_token
        signature = request.headers.get("X-Twilio-Signature", "")
        if (
            not token
            or not signature
            or not RequestValidator(token).validate(self._media_url, {}, signature)
        ):
            self._log.warning("media_handshake_rejected", reason="bad signature")
            return HTTPStatus.FORBIDDEN, "invalid signature"
        return None

    async def handle_twilio(self, ws: ServerConnection) -> None:
        state = self._state
        if state is None or state.phase == "live" or self._twilio is not None:
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
                    await self._on_caller_audio(event, received)
                elif isinstance(event, tw.Start | tw.Mark | tw.Dtmf | tw.Stop):
                    self._model_rx_ns = 0  # audio flushed now is not a model-to-caller relay
                    await self._apply(event)
                    if isinstance(event, tw.Start):
                        self._stream_seen.set()
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

    async def _on_caller_audio(self, event: tw.Media, received_ns: int) -> None:
        state = self._state
        if state is None or state.phase != "live" or self._model is None:
            self._dropped += 1
            return
        self._frames_in += 1
        await self._model.send(rt.audio_append(event.payload), received_ns)

    async def _to_twilio(self, text: str, received_ns: int = 0) -> None:
        """Written at once (a send only waits when the socket's buffer is full), so frames go
        out in the order the state machine made them, with no queue hop per frame."""
        ws = self._twilio
        if ws is None:
            return
        try:
            await ws.send(text)
        except ConnectionClosed:
            return
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
            self._step("stream_start")
            self._spawn(self._stream_connected(event.stream_sid))
        for command in commands:
            await self._execute(command)

    async def _stream_connected(self, stream_sid: str) -> None:
        setup = self._require_setup()
        with contextlib.suppress(Exception):
            # the stream is counted on the call's row: a stream that starts while the row is
            # still being written (a fast caller, a busy database) waits for it
            assert self._turns is not None
            await asyncio.wait_for(self._turns.row_written(), ROW_WAIT_S)
            await asyncio.wait_for(
                self._memory.stream_connected(setup.memory_token, setup.call_sid, stream_sid), 3.0
            )
        self._log.info("stream_started", stream_sid=stream_sid)

    async def _to_model(self, text: str) -> None:
        if self._model is not None:
            await self._model.send(text)

    async def _execute(self, command: cs.Command) -> None:
        state = self._state
        assert state is not None
        assert self._turns is not None
        if isinstance(command, cs.SendMedia):
            self._frames_out += 1
            media = tw.encode_media(state.stream_sid, command.payload)
            await self._to_twilio(media, self._model_rx_ns)
        elif isinstance(command, cs.SendMark):
            await self._to_twilio(tw.encode_mark(state.stream_sid, command.name))
        elif isinstance(command, cs.ClearPlayback):
            await self._to_twilio(tw.encode_clear(state.stream_sid))
        elif isinstance(command, cs.CancelResponse):
            await self._to_model(rt.response_cancel())
        elif isinstance(command, cs.Truncate):
            await self._to_model(rt.item_truncate(command.item_id, command.audio_end_ms))
        elif isinstance(command, cs.CreateResponse):
            await self._to_model(rt.response_create(command.instructions))
        elif isinstance(command, cs.SendUserText):
            await self._to_model(rt.user_text(command.text))
        elif isinstance(command, cs.SendToolOutput):
            await self._to_model(rt.function_call_output(command.call_id, command.output))
        elif isinstance(command, cs.RecordTurn):
            setup = self._require_setup()
            text = redact(command.text) if setup.tenant.pii_redaction else command.text
            self._turns.add(command.role, text, command.meta)
        elif isinstance(command, cs.Observe):
            self._observe(command)
        elif isinstance(command, cs.CloseStream):
            ws, self._twilio = self._twilio, None
            self._log.warning("stream_refused", reason=command.reason)
            if state.phase == "ended":  # the <Connect action> must find the outcome recorded
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._recorded.wait(), 3.0)
            if ws is not None:
                await ws.close(command.code, command.reason)
        elif isinstance(command, cs.FinishAfterSpeech):
            self._spawn(self._finish_after_speech(command))
        elif isinstance(command, cs.EndCall):
            self._spawn(self._finish(command))

    def _observe(self, command: cs.Observe) -> None:
        if command.metric == "greeting_ms":
            self._greeting_ms = command.value
            self._step("greeting_sent")
        elif command.metric == "turn_ms":
            self._turn_ms.append(command.value)
        elif command.metric == "barge_in":
            self._barge_ins += 1
        elif command.metric == "model_error":
            self._model_errors += 1

    async def _finish_after_speech(self, command: cs.FinishAfterSpeech) -> None:
        """The closing words were heard: hang up or transfer through Twilio. If that fails, end
        the call from here; the `<Connect action>` then hangs up or dials instead."""
        setup = self._require_setup()
        tenant_id = setup.tenant.tenant_id
        try:
            if self._control is None:
                raise RuntimeError("no call control configured")
            if command.kind == "transfer":
                await self._control.transfer(tenant_id, setup.call_sid, command.target)
            else:
                await self._control.hang_up(tenant_id, setup.call_sid)
        except Exception as exc:
            self._log.warning("call_control_failed", kind=command.kind, error=repr(exc))
            await self._apply(cs.FinishFailed(f"{command.kind} via REST failed: {exc}"))
            return
        await asyncio.sleep(SETTLE_AFTER_REST_S)
        await self._apply(cs.FinishSettled())

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
            transferred_to=end.transferred_to,
        )
        with contextlib.suppress(TimeoutError):  # turns and outcome go on the call's row
            await asyncio.wait_for(self._turns.row_written(), FINISH_STEP_TIMEOUT_S)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._turns.flush(), FINISH_STEP_TIMEOUT_S)
        try:
            await asyncio.wait_for(
                self._memory.finish_call(setup.memory_token, setup.call_sid, record),
                FINISH_STEP_TIMEOUT_S,
            )
        except Exception as exc:
            self._log.error("call_finish_failed", error=repr(exc))
        self._recorded.set()
        try:  # summary, personality, profile and memories: durable, done by the memory pool
            await asyncio.wait_for(
                self._memory.enqueue_post_call(
                    setup.memory_token, setup.call_sid, setup.from_number
                ),
                FINISH_STEP_TIMEOUT_S,
            )
        except Exception as exc:
            self._log.error("post_call_enqueue_failed", error=repr(exc))
        if self._stream_started_at is None and end.outcome not in (
            "stream_never_connected",
            "engine_shutdown",
        ):
            # Ended before Twilio connected (a refused model key): let the stream connect so
            # it can be closed at once and Twilio asks the <Connect action> what to play.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stream_seen.wait(), STREAM_CONNECT_TIMEOUT_S)
        await self._close_sockets()
        self._log.info(
            "call_ended",
            outcome=end.outcome,
            detail=end.detail,
            greeting_ms=self._greeting_ms,
            timeline_ms=self._timeline,
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
        ws, self._twilio = self._twilio, None
        if ws is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(ws.close(1000, "call ended"), FINISH_STEP_TIMEOUT_S)
        if self._model is not None:
            await self._model.close()

    def _report(self, end: cs.EndCall) -> CallReport:
        setup = self._require_setup()
        model = self._model
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
            dropped_frames=self._dropped + (model.dropped if model else 0),
            inbound_latency_us=tuple(self._inbound_latency.counts),
            outbound_latency_us=tuple(self._outbound_latency.counts),
            inbound_latency_sum_us=self._inbound_latency.sum,
            outbound_latency_sum_us=self._outbound_latency.sum,
            model_reconnects=model.reconnects if model else 0,
            model_gap_ms=model.last_gap_ms if model else None,
            tool_overhead_ms=tuple(self._tool_overhead_ms),
            fillers=self._fillers,
        )
