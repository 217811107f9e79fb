"""CallSession: one live phone call, from `begin` to its end report. Runs inside a CallActor.

A thin shell around the call's state machine (engine.call_state): it decodes frames from the
two sockets, steps the state machine, and executes the commands it returns. The audio path:
- caller to model: `_twilio_frame`, called by the media socket (actors/twilio_socket.py) in the
  callback that read the frame, takes a `media` frame's payload out (engine.twilio_codec's fast
  path, no event object) and `_on_caller_audio` splices it, untouched, into the model's append
  event and writes it there and then (no coroutine; it never enters the state machine);
- model to caller: `model_frame` decodes an audio delta, `step` turns it into `SendMedia` and
  `SendMark`, and `_execute` writes them to Twilio at once.
No Ray call is made per frame; Ray is used for claim, turn batches, tools, hang-up/transfer and
the end-of-call report. Decisions live in engine/ (session_open, session_rules, call_metrics).
The call's parts are wired in actors/call_parts.py; commands off the audio path run in
actors/call_commands.py, tools in actors/tool_calls.py, the finish in actors/call_finish.py.

State it owns: the media socket (handed over by the actor's server), the call's state and its
parts (model link, turn writer, tasks in one TaskSet, metrics). A session is used once, so
nothing of one caller (tasks, sockets, buffers, context) can reach the next call its actor serves.

When the actor dies mid-call: Twilio's stream breaks and Twilio requests the `<Connect action>`;
the webhook finds no outcome on the call row and connects the call to a fresh actor, which
resumes from the turns in Postgres. Turns not yet flushed (at most half a second of
conversation) are lost; everything earlier is there.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Coroutine, Mapping
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any
from urllib.parse import urlsplit

import structlog

from actors import call_commands, call_effects, call_parts, call_start, call_timers, media_handshake
from actors.call_finish import finish
from actors.call_sockets import MediaClosed, MediaSocket
from actors.ports import CallControl, CallLifecycle, CallReport, CallSetup, MemoryClient
from engine import call_events as ev
from engine import realtime_codec as rt
from engine import twilio_codec as tw
from engine.call_state import step
from engine.config import EngineConfig, MediaAddress
from engine.inbound_rate import FrameBudget

log = structlog.get_logger(__name__)


class CallSession:
    def __init__(
        self,
        config: EngineConfig,
        memory: MemoryClient,
        lifecycle: CallLifecycle | None,
        control: CallControl | None,
        address: MediaAddress,
        setup: CallSetup,
        open_model: call_parts.OpenModel | None = None,
    ) -> None:
        """`open_model` makes the model link (a ModelLink by default; a fake in unit tests).
        The call's first state, office hours and recording included: actors/call_start.py; its
        parts: actors/call_parts.py."""
        setup, self._state = call_start.first_state(setup, datetime.now(UTC))
        self._config, self._address, self._setup = config, address, setup
        self._log = log_ = log.bind(call_sid=setup.call_sid, tenant_id=setup.tenant.tenant_id)
        self.call_sid = setup.call_sid
        self.media_url = config.media_url(address, setup.call_sid)
        self.media_path = urlsplit(self.media_url).path  # what the actor's server routes by
        self._twilio: MediaSocket | None = None
        hooks = (self, self._apply, self._take_stream)
        self._parts = parts = call_parts.assemble(
            config, memory, lifecycle, control, setup, log_, *hooks, open_model
        )
        # what the audio path touches, one attribute away
        self._model, self._metrics, self._voice = parts.model, parts.metrics, parts.voice
        self._meter, self._tasks = parts.meter, parts.tasks
        self._done = asyncio.Event()
        self._began = self._finishing = self._flooded = False
        self._inbound_budget = FrameBudget(time.monotonic())

    def __repr__(self) -> str:
        return f"call={self._setup.call_sid}, tenant={self._setup.tenant.name!r}"

    def progress(self) -> CallReport:
        """The call's measurements so far (outcome `live`), reported while it lasts."""
        return call_effects.report(self._setup, "live", self._metrics, self._model)

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
        self._parts.start(lambda: self._state, self._apply, self._rotate)
        self._log.info("call_prepared", port=self._address.port, attempt=self._setup.attempt)
        return self.media_url

    async def check_health(self) -> dict[str, object]:
        return {
            "port": self._address.port,
            "call_sid": self._setup.call_sid,
            "phase": self._state.phase,
            "pending_turns": self._parts.turns.pending,
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

    def _rotate(self) -> None:
        call_timers.rotate_when_due(self._state, self._model, self._config.realtime_session_max_s)

    # --- the model side (ModelListener) ----------------------------------------------------

    async def model_opened(self, reconnected: bool) -> list[str]:
        """The frames a new session starts with (engine.session_open)."""
        brief = self._parts.brief
        first = await brief.opening(reconnected, text_only=self._voice.text_only)
        if brief.recording != "none":  # a resumed call's recording, as its record says
            await self._apply(ev.RecordingResumed(brief.recording))
        # applied once the link has sent these frames: a response asked for goes out after them
        if first.then is not None:
            asyncio.get_running_loop().call_soon(self._tasks.spawn, self._apply(first.then))
        if first.greeting is not None:
            await self._voice.greet(first.greeting)
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
            await self._apply(event)  # a transfer the model called is its own (call_control)
            self._tasks.spawn(self._parts.run_tool(event, received_ns, self._apply))
            return
        if isinstance(event, rt.ServerError) and event.code not in rt.BENIGN_ERROR_CODES:
            self._log.warning("model_error", code=event.code, message=event.message)
        if await self._voice.intercept(event):
            return
        await self._apply(event, received_ns)

    # --- the Twilio side ------------------------------------------------------------------

    def handshake_refusal(self, headers: Mapping[str, str]) -> tuple[HTTPStatus, str] | None:
        """Why a media handshake with these headers may not open the call's stream, or None."""
        token = self._setup.tenant.twilio_auth_token or self._config.twilio_auth_token
        connected = self._twilio is not None
        return media_handshake.check(
            headers, self.media_url, token, self._log, self._done.is_set(), connected
        )

    async def handle_twilio(self, ws: MediaSocket) -> None:
        if self._state.phase == "live" or self._twilio is not None:
            await ws.close(1008, "no stream expected")
            return
        self._twilio = ws
        reason = "closed"
        try:
            reason = await ws.serve(self._twilio_frame)
        finally:
            if self._twilio is ws:
                self._twilio = None
                await self._apply(ev.StreamClosed(reason))

    def _twilio_frame(
        self, frame: str | bytes, received_ns: int
    ) -> Coroutine[Any, Any, None] | None:
        """A frame from Twilio, in the socket callback that read it: caller audio is relayed
        here and now (None: nothing left to do); anything else is returned as a coroutine, which
        the socket runs before the frames after it."""
        payload = tw.media_payload(frame)  # the audio fast path: no event object
        if payload is None:
            return self._twilio_event(frame, received_ns)
        if self._on_caller_audio(payload, received_ns):
            return self._apply(ev.CallerSpeechLong())
        return None

    async def _twilio_event(self, frame: str | bytes, received_ns: int) -> None:
        try:
            event = tw.decode(frame)
        except tw.ProtocolError as exc:
            self._log.warning("twilio_frame_rejected", error=str(exc))
            return
        if isinstance(event, tw.Media):
            if self._on_caller_audio(event.payload, received_ns):
                await self._apply(ev.CallerSpeechLong())
        elif isinstance(event, tw.Start | tw.Mark | tw.Dtmf | tw.Stop):
            await self._apply(event)  # audio flushed now is no model-to-caller relay
            if isinstance(event, tw.Start):
                self._parts.ending.stream_seen.set()
        elif isinstance(event, tw.Unknown):
            self._log.info("twilio_event_ignored", twilio_event=event.event)

    def _on_caller_audio(self, payload: str, received_ns: int) -> bool:
        """Relay a caller frame to the model; True when the speech meter says the caller has
        now spoken long enough (the state machine hears it: `CallerSpeechLong`)."""
        metrics = self._metrics
        if self._state.phase != "live":
            metrics.dropped += 1
            return False
        if not self._inbound_budget.take(time.monotonic()):  # faster than real time: a flood
            metrics.dropped += 1
            if not self._flooded:
                self._flooded = True
                self._log.warning("caller_audio_flood", frames_in=metrics.frames_in)
                self._tasks.spawn(
                    self._finish(ev.EndCall("media_flood", "audio faster than real time"))
                )
            return False
        metrics.frames_in += 1
        if self._model.send(rt.audio_append(payload)):
            metrics.inbound_latency_us.observe((time.perf_counter_ns() - received_ns) / 1000)
        return self._meter.armed and self._meter.feed(payload)

    async def _to_twilio(self, text: str, received_ns: int = 0) -> None:
        """Written at once (a send only waits when the socket's buffer is full), so frames go
        out in the order the state machine made them, with no queue hop per frame."""
        ws = self._twilio
        if ws is None:
            return
        try:
            await ws.send(text)
        except MediaClosed:
            return
        if received_ns:
            self._metrics.outbound_latency_us.observe((time.perf_counter_ns() - received_ns) / 1000)

    # --- the state machine ----------------------------------------------------------------

    async def _apply(self, event: ev.CallEvent, received_ns: int = 0) -> None:
        """Step the state machine; `received_ns` is when the model frame behind `event` arrived
        (0 for anything else), so the audio it makes is measured from there."""
        now = time.monotonic()
        self._state, commands = step(self._state, event, now)
        if isinstance(event, rt.AudioDelta) and "model_audio" not in self._metrics.timeline:
            self._metrics.mark("model_audio", now)  # the model's own audio or its voice's
        if isinstance(event, tw.Start) and self._state.phase == "live":
            self._parts.stream_started(event, now)
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
            case _:  # not the audio path: actors/call_commands.py
                ended = self._state.phase == "ended"
                await call_commands.execute(
                    command, self._parts, call_ended=ended, apply=self._apply, finish=self._finish
                )

    # --- the end ----------------------------------------------------------------------------

    def _take_stream(self) -> MediaSocket | None:
        ws, self._twilio = self._twilio, None
        return ws

    async def _finish(self, end: ev.EndCall) -> None:
        """Finish the call (actors/call_finish.py), once."""
        if self._finishing:
            return
        self._finishing = True
        record = call_effects.call_end(end, self._metrics, time.monotonic(), self._state)
        await self._voice.close()
        await finish(self._parts.ending, end, record)
        self._done.set()
