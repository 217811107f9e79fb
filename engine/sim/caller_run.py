"""One simulated inbound call from ring to hang-up: executes the engine's TwiML documents in turn.

I/O: one aiohttp client session per call for its signed webhooks (`engine.sim.caller_webhooks`),
the media WebSocket of each `<Connect><Stream>` (`engine.sim.twilio_media.MediaStream`), holds in
conferences and queues (`engine.sim.caller_hold`). When the caller has a `TwilioRestFake`, the
call registers there so REST updates (hang-up, new TwiML, a new URL) reach it while it runs.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Coroutine
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any, Protocol
from urllib.parse import urlsplit

import aiohttp
import structlog

from engine.sim import caller_hold
from engine.sim.caller_result import CallResult
from engine.sim.caller_webhooks import CallWebhooks, WebhookCaller
from engine.sim.twilio_call_records import SimCallError, StreamRecord
from engine.sim.twilio_call_script import (
    BargeIn,
    CallScript,
    ScriptCursor,
    Speak,
    utterance_payloads,
)
from engine.sim.twilio_media import MediaStream, StreamSettings
from engine.sim.twiml_verbs import (
    TwimlConference,
    TwimlConnect,
    TwimlDial,
    TwimlEnqueue,
    TwimlError,
    TwimlGather,
    TwimlHangup,
    TwimlLeave,
    TwimlPause,
    TwimlRecording,
    TwimlRedirect,
    TwimlSay,
    TwimlStream,
    parse_twiml,
)

log = structlog.get_logger(__name__)

MAX_DOCUMENTS = 50


def new_sid(prefix: str) -> str:
    return prefix + secrets.token_hex(16)


class CallerOptions(WebhookCaller, Protocol):
    """What a call's run reads of the caller placing it (a `TwilioCaller`)."""

    status_path: str
    step_timeout: float
    record_frames: bool
    record_events: bool
    record_audio: bool
    stop_on_rest_hangup: bool
    stream_connect_delay_s: float

    def stream_connect_url(self, url: str) -> str: ...


class CallRun:
    """One call: executes TwiML documents until the call ends; owns its side tasks."""

    def __init__(self, caller: CallerOptions, script: CallScript, call_sid: str) -> None:
        self.caller = caller
        self.script = script
        self.cursor = ScriptCursor(script.steps)
        self.result = CallResult(call_sid=call_sid)
        self.hooks = CallWebhooks(caller, script, self.result)
        self.rest_event = asyncio.Event()
        self._stream: MediaStream | None = None
        self._rest_action: tuple[str, str] | None = None
        self._recording: TwimlRecording | None = None
        self._answered_at = 0.0
        self._bg: asyncio.TaskGroup | None = None

    async def run(self) -> CallResult:
        for step in self.script.steps:  # precompute audio before the clock starts
            if isinstance(step, Speak | BargeIn):
                utterance_payloads(step)
        caller, result, hooks = self.caller, self.result, self.hooks
        rest = caller.rest
        if rest is not None:
            s = self.script
            rest.add_call(
                result.call_sid,
                account_sid=caller.account_sid,
                from_number=s.from_number,
                to_number=s.to_number,
            )
            rest.on_call_update(result.call_sid, self.on_rest_update)
        log.info(
            "sim_call_placed",
            call_sid=result.call_sid,
            pii_from=self.script.from_number,
            pii_to=self.script.to_number,
        )
        failure: SimCallError | None = None
        async with aiohttp.ClientSession() as http, asyncio.TaskGroup() as bg:
            hooks.http, self._bg = http, bg
            params = hooks.params("ringing")
            params["CallToken"] = secrets.token_urlsafe(48)
            t = time.perf_counter()
            doc = await hooks.post(caller.public_base_url + caller.voice_path, params)
            result.webhook_ms = (time.perf_counter() - t) * 1000
            result.webhook_status = hooks.last_status
            self._answered_at = time.monotonic()
            try:
                for _ in range(MAX_DOCUMENTS):
                    if doc is None:
                        break
                    doc = await self._run_document(doc)
                else:
                    result.violations.append("sim: too many TwiML documents, call ended")
            except SimCallError as exc:  # raised below, outside the TaskGroup (no ExceptionGroup)
                exc.result = result
                failure = exc
            await self._end_call()
        if failure is not None:
            raise failure
        log.info(
            "sim_call_ended",
            call_sid=result.call_sid,
            streams=len(result.streams),
            heard_ms=result.heard_ms,
            violations=len(result.violations),
        )
        return result

    async def _end_call(self) -> None:
        result = self.result
        result.duration_s = time.monotonic() - self._answered_at
        if self._recording is not None:
            await self.hooks.recording_callback(self._recording, "completed")
        params = self.hooks.params("completed")
        params.update(
            CallDuration=str(round(result.duration_s)),
            SequenceNumber="0",
            Timestamp=format_datetime(datetime.now(UTC)),
            CallbackSource="call-progress-events",
        )
        url = self.caller.public_base_url + self.caller.status_path
        result.status_callback_status = await self.hooks.post_status(url, params)

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        assert self._bg is not None
        self._bg.create_task(coro)

    # -- REST updates ---------------------------------------------------------------------------

    async def on_rest_update(self, params: dict[str, str]) -> None:
        """Called by TwilioRestFake on `calls(sid).update(...)`."""
        if params.get("Status") == "completed":
            self._rest_action = ("hangup", "")
        elif params.get("Twiml"):
            self._rest_action = ("twiml", params["Twiml"])
        elif params.get("Url"):
            self._rest_action = ("url", params["Url"])
        else:
            return
        self.rest_event.set()
        if self._stream is not None:
            self._stream.terminate()

    def rest_pending(self) -> bool:
        return self._rest_action is not None

    async def apply_rest(self) -> str | None:
        action = self._rest_action
        self._rest_action = None
        self.rest_event.clear()
        if action is None or action[0] == "hangup":
            self.result.hung_up_via_rest = True
            return None
        if action[0] == "twiml":
            return action[1]
        return await self.hooks.post(action[1], self.hooks.params("in-progress"))

    # -- TwiML execution ------------------------------------------------------------------------

    async def _run_document(self, doc: str) -> str | None:
        """Execute one TwiML document; returns the next document, or None: the call ended."""
        result, hooks = self.result, self.hooks
        result.twiml.append(doc)
        try:
            verbs = parse_twiml(doc)
        except TwimlError as exc:
            result.violations.append(f"12100 {exc}")
            return None
        says: list[str] = []
        for verb in verbs:
            if self._rest_action is not None:
                return await self.apply_rest()
            if isinstance(verb, TwimlSay):
                says.append(verb.text)
                result.said.append(verb.text)
            elif isinstance(verb, TwimlHangup):
                break
            elif isinstance(verb, TwimlDial):
                result.transferred_to = verb.number
                return None
            elif isinstance(verb, TwimlConference):
                return await caller_hold.conference(self, verb)
            elif isinstance(verb, TwimlEnqueue):
                queued = await caller_hold.enqueue(self, verb)
                if queued != "continue":
                    return queued
            elif isinstance(verb, TwimlRecording):
                self._recording = verb
                if "in-progress" in verb.attributes.get("recordingStatusCallbackEvent", ""):
                    self.spawn(hooks.recording_callback(verb, "in-progress"))
            elif isinstance(verb, TwimlPause):
                await asyncio.sleep(min(verb.seconds, 10.0))
            elif isinstance(verb, TwimlRedirect):
                return await hooks.post(hooks.absolute(verb.url), hooks.params("in-progress"))
            elif isinstance(verb, TwimlConnect):
                if verb.stream is None:
                    result.violations.append("12200 <Connect> without <Stream>")
                    continue
                closed_by = await self._run_stream(verb.stream)
                if closed_by == "caller":
                    return None
                if closed_by == "rest" or self._rest_action is not None:
                    return await self.apply_rest()
                if verb.action:  # the server closed the socket, or it broke
                    action = hooks.absolute(verb.action)
                    return await hooks.post(action, hooks.params("in-progress"))
            elif isinstance(verb, TwimlGather):
                result.violations.append("12200 TwiML verb <Gather> not simulated for a caller")
            elif isinstance(verb, TwimlLeave):
                result.violations.append("12200 <Leave> outside a queue's wait URL")
            else:
                result.violations.append(f"12200 TwiML verb <{verb.name}> not simulated")
        if self._rest_action is not None:
            return await self.apply_rest()
        if says:
            result.refused_say = " ".join(says)
        return None

    async def _run_stream(self, stream: TwimlStream) -> str:
        caller, result = self.caller, self.result
        if urlsplit(stream.url).query:
            result.violations.append("31920 <Stream url> carries a query string; use <Parameter>")
        for name, value in stream.parameters.items():
            if len(name) > 500 or len(value) > 500:
                result.violations.append(f"12200 <Parameter {name[:40]!r}> over 500 characters")
        record = StreamRecord(
            stream_sid=new_sid("MZ"),
            custom_parameters=dict(stream.parameters),
            url=stream.url,
            index=len(result.streams),
        )
        result.streams.append(record)
        settings = StreamSettings(
            url=stream.url,
            connect_url=caller.stream_connect_url(stream.url),
            signature=caller.sign(stream.url, {}),
            account_sid=caller.account_sid,
            call_sid=result.call_sid,
            step_timeout=caller.step_timeout,
            record_frames=caller.record_frames,
            record_events=caller.record_events,
            record_audio=caller.record_audio,
            send_stop_on_rest=caller.stop_on_rest_hangup,
        )

        def on_event(event: str, rec: StreamRecord) -> None:
            if stream.status_callback:
                self.spawn(self.hooks.stream_callback(stream, rec, event))

        media = MediaStream(
            settings=settings,
            cursor=self.cursor,
            record=record,
            violations=result.violations,
            on_event=on_event,
        )
        self._stream = media
        if self._rest_action is not None:
            media.terminate()
        try:
            if caller.stream_connect_delay_s:
                await asyncio.sleep(caller.stream_connect_delay_s)
            await media.run()
        finally:
            self._stream = None
        return record.closed_by
