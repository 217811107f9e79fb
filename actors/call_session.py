"""CallSession: one live phone call, from `begin` to its end report. Runs inside a CallActor.

A thin shell around the call's state machine (engine.call_state): it decodes frames from the
two sockets, steps the state machine, and executes the commands it returns. The audio path:
- caller to model: `handle_twilio` decodes a `media` frame and `_on_caller_audio` forwards its
  mu-law payload to the model untouched (it never enters the state machine);
- model to caller: `model_frame` decodes an audio delta, `step` turns it into `SendMedia` and
  `SendMark`, and `_execute` writes them to Twilio at once.
No Ray call is made per frame; Ray is used for claim, turn batches, tools, hang-up/transfer and
the end-of-call report. Decisions live in engine/: what a model session opens with
(engine.session_open), when it is rotated and in which order a call finishes
(engine.session_rules), what is measured (engine.call_metrics).

State it owns: the media socket (handed over by the actor's server), the model link
(actors/model_link.py), the call's state, the turn writer (actors/turn_writer.py), its tasks
(one TaskSet) and its metrics. A session is used once, so nothing of one caller (tasks, sockets,
buffers, context) can reach the next call its actor serves.

When the actor dies mid-call: Twilio's stream breaks and Twilio requests the `<Connect action>`;
the webhook finds no outcome on the call row and connects the call to a fresh actor, which
resumes from the turns in Postgres. Turns not yet flushed (at most a quarter second of
conversation) are lost; everything earlier is there.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from datetime import UTC, datetime
from http import HTTPStatus
from typing import assert_never
from urllib.parse import urlsplit

import structlog
from picows.websockets import ConnectionClosed, Request
from twilio.request_validator import RequestValidator

from actors import call_effects
from actors.call_sockets import MediaSocket, ModelChannel, ModelListener
from actors.call_tools import ToolContext, run_tool
from actors.model_link import ModelLink
from actors.ports import CallControl, CallLifecycle, CallSetup, MemoryClient
from actors.turn_writer import TurnWriter
from engine import call_events as ev
from engine import realtime_codec as rt
from engine import twilio_codec as tw
from engine.call_control import CallRules
from engine.call_metrics import CallMetrics
from engine.call_state import new_call, step
from engine.config import EngineConfig, MediaAddress
from engine.inbound_rate import FrameBudget
from engine.redact import redact
from engine.session_open import disclosure, loads_history, opening
from engine.session_rules import FinishStep, finish_steps, should_rotate
from engine.speech_meter import SpeechMeter
from engine.task_set import TaskSet
from engine.tools import FILLER_AFTER_S, tool_specs
from memory.call_records import CallEnd, Turn
from prompts.context import CallerContext

log = structlog.get_logger(__name__)

STREAM_CONNECT_TIMEOUT_S = 30.0
TICK_S = 1.0

OpenModel = Callable[[ModelListener, structlog.typing.FilteringBoundLogger], ModelChannel]


class CallSession:
    def __init__(
        self,
        config: EngineConfig,
        memory: MemoryClient,
        lifecycle: CallLifecycle | None,
        control: CallControl | None,
        address: MediaAddress,
        setup: CallSetup,
        open_model: OpenModel | None = None,
    ) -> None:
        """`open_model` makes the model link (a ModelLink by default; a fake in unit tests)."""
        self._config = config
        self._memory = memory
        self._lifecycle = lifecycle
        self._control = control
        self._address = address
        self._setup = setup
        self._log = log.bind(call_sid=setup.call_sid, tenant_id=setup.tenant.tenant_id)
        self.call_sid = setup.call_sid
        self.media_url = config.media_url(address, setup.call_sid)
        self.media_path = urlsplit(self.media_url).path  # what the actor's server routes by
        self._state = new_call(setup.call_sid, setup.media_token, CallRules.of(setup.tenant))
        self._specs = dict(tool_specs(setup.tenant))
        self._offered = self._specs  # plus verify_caller while a known caller is unverified
        self._verified = False
        self._tool_ctx = ToolContext(
            setup.tenant, setup.call_sid, setup.from_number, memory, setup.memory_token
        )
        self._turns = TurnWriter(
            memory, setup.memory_token, setup.call_sid, on_consolidate=self._consolidate
        )
        opener = open_model or (lambda listener, log_: ModelLink(config, listener, log_))
        self._model = opener(self, self._log)
        self._twilio: MediaSocket | None = None
        self._context: asyncio.Task[CallerContext] | None = None  # begin() starts it
        self._tasks = TaskSet("call", self._log)
        self._metrics = CallMetrics(prepared_at=time.monotonic())
        self._meter = SpeechMeter()  # armed while the caller talks over the agent
        self._done = asyncio.Event()
        self._stream_seen = asyncio.Event()  # Twilio connected a stream (or never will)
        self._recorded = asyncio.Event()  # the outcome is in Postgres
        self._began = False
        self._finishing = False
        self._inbound_budget = FrameBudget(time.monotonic())
        self._flooded = False

    def __repr__(self) -> str:
        return f"call={self._setup.call_sid}, tenant={self._setup.tenant.tenant_id}"

    @property
    def done(self) -> bool:
        return self._done.is_set()

    # --- control plane ---------------------------------------------------------------------

    def begin(self) -> str:
        """Take on the call: returns the media URL at once; the model session (with the greeting
        requested, its audio buffered) and the call row are set up in the background."""
        if self._began:
            raise RuntimeError("a call session is used once")
        self._began = True
        memory, self._metrics.prepared_at = self._memory, time.monotonic()
        # the caller's context is looked up while the model's socket opens, not after it
        self._context = self._tasks.spawn(self._caller_context())
        self._tasks.spawn(call_effects.record_start(memory, self._setup, self._turns, self._log))
        self._tasks.spawn(self._model.run())
        self._tasks.spawn(self._turns.run())
        self._tasks.spawn(self._stream_watchdog())
        self._tasks.spawn(self._tick())
        self._log.info("call_prepared", port=self._address.port, attempt=self._setup.attempt)
        return self.media_url

    async def check_health(self) -> dict[str, object]:
        return {
            "port": self._address.port,
            "call_sid": self._setup.call_sid,
            "phase": self._state.phase,
            "pending_turns": self._turns.pending,
            "model_reconnects": self._model.reconnects,
            "model_gap_ms": self._model.last_gap_ms,
        }

    async def wait_done(self, timeout: float) -> str | None:
        """Wait for the call to end; its outcome, or None on timeout (for tests and tools)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._done.wait(), timeout)
        return self._state.outcome if self._done.is_set() else None

    async def shutdown(self, timeout: float = 5.0) -> str | None:
        """End whatever this actor is doing (engine shutdown, tests); returns the outcome."""
        if not self._finishing:
            await self._finish(ev.EndCall("engine_shutdown"))
        return await self.wait_done(timeout)

    async def drain(self, timeout: float = 2.0) -> bool:
        """Once the call is over: cancel what is left of its tasks and wait for them. False when
        something would not stop in time (the actor then serves no other call)."""
        return await self._tasks.close(timeout)

    async def _stream_watchdog(self) -> None:
        await asyncio.sleep(STREAM_CONNECT_TIMEOUT_S)
        await self._apply(ev.NoStream())

    async def _tick(self) -> None:
        while self._state.phase != "ended":
            await asyncio.sleep(TICK_S)
            if self._state.phase != "live":
                continue
            await self._apply(ev.Tick())
            model = self._model
            if should_rotate(
                self._state,
                link_ready=model.ready,
                opened_at=model.opened_at,
                now=time.monotonic(),
                max_s=self._config.realtime_session_max_s,
            ):
                model.rotate()

    async def _caller_context(self) -> CallerContext:
        context = await call_effects.caller_context(self._memory, self._setup, self._log)
        if self._setup.attempt > 0:  # a resumed call keeps the verification it earned
            self._verified = await call_effects.verified_before(
                self._memory, self._setup, self._log
            )
        self._metrics.mark("caller_context", time.monotonic())
        return context

    def _consolidate(self, turns: list[Turn]) -> None:
        self._tasks.spawn(call_effects.consolidate(self._memory, self._setup, turns, self._log))

    # --- the model side (ModelListener) ----------------------------------------------------

    async def model_opened(self, reconnected: bool) -> list[str]:
        """The frames a new session starts with (engine.session_open)."""
        setup = self._setup
        now = datetime.now(UTC)
        if loads_history(setup.attempt, reconnected):
            self._turns.preload(await self._memory.load_turns(setup.memory_token, setup.call_sid))
        self._metrics.mark("model_open", time.monotonic())
        assert self._context is not None
        caller = await asyncio.shield(self._context)  # fetched once; a reconnect reuses it
        first = opening(
            setup.tenant,
            caller_number=setup.from_number,
            context=caller,
            tools=self._specs,
            history=list(self._turns.history),
            resumed=setup.attempt > 0,
            reconnected=reconnected,
            now=now,
            verified=self._verified,
        )
        self._offered = first.tools
        # applied once the link has sent these frames: a response asked for goes out after them
        asyncio.get_running_loop().call_soon(self._tasks.spawn, self._apply(first.then))
        return first.frames

    async def model_gone(self, permanent: bool, reason: str) -> None:
        await self._apply(ev.ModelClosed(permanent=permanent, reason=reason))

    async def model_frame(self, frame: str | bytes, received_ns: int) -> None:
        try:
            event = rt.decode_server_event(frame)
        except ValueError:
            self._log.warning("model_frame_rejected")
            return
        if event is None or isinstance(event, rt.SessionUpdated):
            return
        if isinstance(event, rt.FunctionCall):
            self._tasks.spawn(self._run_tool(event, received_ns))
            return
        if isinstance(event, rt.AudioDelta) and "model_audio" not in self._metrics.timeline:
            self._metrics.mark("model_audio", time.monotonic())
        if isinstance(event, rt.ServerError) and event.code not in rt.BENIGN_ERROR_CODES:
            self._log.warning("model_error", code=event.code, message=event.message)
        await self._apply(event, received_ns)

    async def _run_tool(self, call: rt.FunctionCall, received_ns: int) -> None:
        said = self._redacted(f"{call.name}({call.arguments})")
        self._turns.add("tool", said, {"call_id": call.call_id, "name": call.name})
        began = time.perf_counter()
        spec = self._offered.get(call.name)
        task = self._tasks.spawn(
            run_tool(spec, call.call_id, call.name, call.arguments, self._tool_ctx)
        )
        done, _ = await asyncio.wait({task}, timeout=FILLER_AFTER_S)
        if not done:
            await self._apply(ev.ToolSlow(call.name))
        result = await task
        tool_ms = (time.perf_counter() - began) * 1000
        total_ms = (time.perf_counter_ns() - received_ns) / 1e6
        self._metrics.tool_overhead_ms.append(max(0.0, total_ms - tool_ms))
        self._log.info("tool_ran", tool=call.name, tool_ms=round(tool_ms, 2))
        if result.verified and not self._verified:  # before the model answers the result
            await self._disclose()
        await self._apply(result)

    async def _disclose(self) -> None:
        """The caller proved who they are: what is known about them reaches the model now."""
        self._verified, self._offered = True, self._specs
        assert self._context is not None
        await self._model.send(
            disclosure(
                self._setup.tenant,
                caller_number=self._setup.from_number,
                context=await asyncio.shield(self._context),
                tools=self._specs,
                history=list(self._turns.history),
                resumed=self._setup.attempt > 0,
                now=datetime.now(UTC),
            )
        )

    # --- the Twilio side ------------------------------------------------------------------

    def handshake_refusal(self, request: Request) -> tuple[HTTPStatus, str] | None:
        """Why this media handshake may not open the call's stream, or None when it may."""
        if self._done.is_set():
            return HTTPStatus.SERVICE_UNAVAILABLE, "no call here"
        if self._twilio is not None:
            return HTTPStatus.CONFLICT, "stream already connected"
        token = self._setup.tenant.twilio_auth_token or self._config.twilio_auth_token
        signature = request.headers.get("X-Twilio-Signature", "")
        if (
            not token
            or not signature
            or not RequestValidator(token).validate(self.media_url, {}, signature)
        ):
            self._log.warning("media_handshake_rejected", reason="bad signature")
            return HTTPStatus.FORBIDDEN, "invalid signature"
        return None

    async def handle_twilio(self, ws: MediaSocket) -> None:
        if self._state.phase == "live" or self._twilio is not None:
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
                    await self._apply(event)  # audio flushed now is no model-to-caller relay
                    if isinstance(event, tw.Start):
                        self._stream_seen.set()
                        if self._twilio is None:
                            return  # the start was refused: this socket is done
                elif isinstance(event, tw.Unknown):
                    self._log.info("twilio_event_ignored", twilio_event=event.event)
        except ConnectionClosed as exc:
            reason = f"broke ({exc.rcvd.code if exc.rcvd else 'no close frame'})"
        finally:
            if self._twilio is ws:
                self._twilio = None
                await self._apply(ev.StreamClosed(reason))

    async def _on_caller_audio(self, event: tw.Media, received_ns: int) -> None:
        metrics = self._metrics
        if self._state.phase != "live":
            metrics.dropped += 1
            return
        if not self._inbound_budget.take(time.monotonic()):  # faster than real time: a flood
            metrics.dropped += 1
            if not self._flooded:
                self._flooded = True
                self._log.warning("caller_audio_flood", frames_in=metrics.frames_in)
                self._tasks.spawn(
                    self._finish(ev.EndCall("media_flood", "audio faster than real time"))
                )
            return
        metrics.frames_in += 1
        if await self._model.send(rt.audio_append(event.payload)):
            metrics.inbound_latency_us.observe((time.perf_counter_ns() - received_ns) / 1000)
        if self._meter.armed and self._meter.feed(event.payload):
            await self._apply(ev.CallerSpeechLong())

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
            self._metrics.outbound_latency_us.observe((time.perf_counter_ns() - received_ns) / 1000)

    # --- the state machine ----------------------------------------------------------------

    async def _apply(self, event: ev.CallEvent, received_ns: int = 0) -> None:
        """Step the state machine; `received_ns` is when the model frame behind `event` arrived
        (0 for anything else), so the audio it makes is measured from there."""
        now = time.monotonic()
        self._state, commands = step(self._state, event, now)
        if isinstance(event, tw.Start) and self._state.phase == "live":
            self._metrics.stream_started_at = now
            self._metrics.mark("stream_start", now)
            self._tasks.spawn(
                call_effects.stream_connected(
                    self._memory, self._setup, self._turns, event, self._log
                )
            )
        for command in commands:
            await self._execute(command, received_ns)

    async def _execute(self, command: ev.Command, received_ns: int) -> None:
        stream_sid = self._state.stream_sid
        match command:
            case ev.SendMedia(payload):
                self._metrics.frames_out += 1
                await self._to_twilio(tw.encode_media(stream_sid, payload), received_ns)
            case ev.SendMark(name):
                await self._to_twilio(tw.encode_mark(stream_sid, name))
            case ev.ClearPlayback():
                await self._to_twilio(tw.encode_clear(stream_sid))
            case ev.CancelResponse():
                await self._model.send(rt.response_cancel())
            case ev.Truncate(item_id, audio_end_ms):
                await self._model.send(rt.item_truncate(item_id, audio_end_ms))
            case ev.CreateResponse(instructions):
                await self._model.send(rt.response_create(instructions))
            case ev.SendUserText(text):
                await self._model.send(rt.user_text(text))
            case ev.SendToolOutput(call_id, output):
                await self._model.send(rt.function_call_output(call_id, output))
            case ev.RecordTurn(role, text, meta):
                self._turns.add(role, self._redacted(text), meta)
            case ev.Observe():
                self._metrics.observe(command, time.monotonic())
            case ev.CloseStream(code, reason):
                await self._refuse_stream(code, reason)
            case ev.FinishAfterSpeech():
                self._tasks.spawn(self._act_on_call(command))
            case ev.EndCall():
                self._tasks.spawn(self._finish(command))
            case ev.MeterSpeech(min_ms):
                self._meter.arm(min_ms)
            case _:
                assert_never(command)

    def _redacted(self, text: str) -> str:
        return redact(text) if self._setup.tenant.pii_redaction else text

    async def _refuse_stream(self, code: int, reason: str) -> None:
        ws, self._twilio = self._twilio, None
        self._log.warning("stream_refused", reason=reason)
        if self._state.phase == "ended":  # the <Connect action> must find the outcome recorded
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._recorded.wait(), 3.0)
        if ws is not None:
            await ws.close(code, reason)

    async def _act_on_call(self, command: ev.FinishAfterSpeech) -> None:
        settled = await call_effects.act_on_call(self._control, self._setup, command, self._log)
        await self._apply(settled)

    # --- the end ----------------------------------------------------------------------------

    async def _finish(self, end: ev.EndCall) -> None:
        """Finish the call in the order engine.session_rules.finish_steps gives."""
        if self._finishing:
            return
        self._finishing = True
        record = call_effects.call_end(end, self._metrics, time.monotonic(), self._state.language)
        for finish_step in finish_steps(end.outcome, self._metrics.stream_started_at is not None):
            await self._finish_step(finish_step, end, record)
        self._done.set()

    async def _finish_step(self, finish_step: FinishStep, end: ev.EndCall, record: CallEnd) -> None:
        setup, memory = self._setup, self._memory
        match finish_step:
            case "write_turns":
                await call_effects.write_turns(self._turns)
            case "record_outcome":
                await call_effects.finish_call(memory, setup, record, self._log)
                self._recorded.set()
            case "enqueue_post_call":
                await call_effects.enqueue_post_call(memory, setup, self._log)
            case "await_stream":
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stream_seen.wait(), STREAM_CONNECT_TIMEOUT_S)
            case "close_sockets":
                ws, self._twilio = self._twilio, None
                if ws is not None:
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(ws.close(1000, "call ended"), 1.5)
                await self._model.close()
                call_effects.log_call_ended(self._log, end, self._metrics)
            case "cancel_tasks":
                self._tasks.cancel()
            case "write_late_turns":
                if self._turns.pending:  # written after the first write
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(self._turns.flush(), 1.5)
            case "report":
                if self._lifecycle is not None:
                    report = call_effects.report(setup, end.outcome, self._metrics, self._model)
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(self._lifecycle.call_ended(report), 5.0)
            case _:
                assert_never(finish_step)
