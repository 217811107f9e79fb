"""Simulated Twilio caller: places a call against the engine as Twilio would and records it.

I/O: HTTP POSTs (aiohttp, one client session per call) to the engine's webhooks, all signed
with `X-Twilio-Signature` over the public URL: `/twilio/voice`, the `<Connect action>`, any
`<Redirect>`, stream and recording status callbacks, and the final `/twilio/status`. The media
WebSocket is `engine.sim.twilio_media.MediaStream`. When a `TwilioRestFake` is given, the call
registers itself there so REST updates (hang-up, new TwiML) reach the live call.

Pure parts: `parse_twiml` (xml.etree) and the `CallResult` record. Webhook requests go to
`webhook_base`, signatures cover `public_base_url` (what the engine rebuilds behind its proxy);
the stream socket goes to the TwiML URL, or to `media_connect_base` + its path when given.
"""

from __future__ import annotations

import asyncio
import io
import secrets
import time
import wave
from collections.abc import Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any, TypeAlias
from urllib.parse import urljoin, urlsplit
from xml.etree import ElementTree

import aiohttp
import structlog
from twilio.request_validator import RequestValidator

from engine.audio import BYTES_PER_MS
from engine.sim.twilio_media import (
    BargeIn,
    CallScript,
    Dtmf,
    HangUp,
    HeardSegment,
    MediaStream,
    Pause,
    ScriptCursor,
    SimCallError,
    SimStepTimeout,
    Speak,
    Step,
    StreamRecord,
    StreamSettings,
    WaitForAgent,
    utterance_payloads,
)
from engine.sim.twilio_queues import FakeQueue
from engine.sim.twilio_rest import TwilioRestFake

__all__ = [
    "BargeIn",
    "CallResult",
    "CallScript",
    "Dtmf",
    "HangUp",
    "HeardSegment",
    "Pause",
    "SimCallError",
    "SimCallTimeout",
    "SimStepTimeout",
    "Speak",
    "Step",
    "StreamRecord",
    "TwilioCaller",
    "TwimlError",
    "WaitForAgent",
    "parse_twiml",
]

log = structlog.get_logger(__name__)

HTTP_TIMEOUT = aiohttp.ClientTimeout(total=15)  # Twilio's webhook budget
SIDE_TIMEOUT = aiohttp.ClientTimeout(total=5)
MAX_DOCUMENTS = 50


class SimCallTimeout(SimCallError, TimeoutError):
    """place_call's overall timeout expired."""


def new_sid(prefix: str) -> str:
    return prefix + secrets.token_hex(16)


# --- TwiML (pure) ----------------------------------------------------------------------------


class TwimlError(ValueError):
    """The document is not TwiML Twilio could execute (Twilio error 12100)."""


@dataclass(frozen=True, slots=True)
class TwimlSay:
    text: str


@dataclass(frozen=True, slots=True)
class TwimlHangup:
    pass


@dataclass(frozen=True, slots=True)
class TwimlDial:
    number: str


@dataclass(frozen=True, slots=True)
class TwimlRecording:
    attributes: dict[str, str]


@dataclass(frozen=True, slots=True)
class TwimlStream:
    url: str
    status_callback: str | None
    parameters: dict[str, str]
    name: str | None = None


@dataclass(frozen=True, slots=True)
class TwimlConnect:
    action: str | None
    stream: TwimlStream | None


@dataclass(frozen=True, slots=True)
class TwimlPause:
    seconds: float


@dataclass(frozen=True, slots=True)
class TwimlRedirect:
    url: str


@dataclass(frozen=True, slots=True)
class TwimlConference:
    """`<Dial action><Conference ...>name</Conference></Dial>`."""

    name: str
    action: str | None
    start_on_enter: bool
    end_on_exit: bool
    wait_url: str | None


@dataclass(frozen=True, slots=True)
class TwimlEnqueue:
    """`<Enqueue action waitUrl>name</Enqueue>`."""

    name: str
    action: str | None
    wait_url: str | None


@dataclass(frozen=True, slots=True)
class TwimlLeave:
    """`<Leave/>` (in a queue's wait TwiML): out of the queue, on to the `<Enqueue action>`."""


@dataclass(frozen=True, slots=True)
class TwimlGather:
    """`<Gather action numDigits timeout>` with the `<Say>` prompts nested in it."""

    action: str | None
    num_digits: int
    timeout_s: float
    says: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class TwimlOther:
    """A verb the simulator does not execute (Play, Start/Stream...)."""

    name: str


TwimlVerb: TypeAlias = (
    TwimlSay
    | TwimlHangup
    | TwimlDial
    | TwimlRecording
    | TwimlConnect
    | TwimlPause
    | TwimlRedirect
    | TwimlConference
    | TwimlEnqueue
    | TwimlLeave
    | TwimlGather
    | TwimlOther
)


def parse_twiml(document: str) -> list[TwimlVerb]:
    """The verbs of a TwiML `<Response>`, in order."""
    try:
        # The document comes from the engine under test, not from the internet.
        root = ElementTree.fromstring(document)  # noqa: S314
    except ElementTree.ParseError as exc:
        raise TwimlError(f"document parse failure: {exc}") from exc
    if root.tag != "Response":
        raise TwimlError(f"root element is <{root.tag}>, not <Response>")
    verbs: list[TwimlVerb] = []
    for el in root:
        if el.tag == "Say":
            verbs.append(TwimlSay((el.text or "").strip()))
        elif el.tag == "Hangup":
            verbs.append(TwimlHangup())
        elif el.tag == "Dial" and (room := el.find("Conference")) is not None:
            attrs = room.attrib
            verbs.append(
                TwimlConference(
                    name=(room.text or "").strip(),
                    action=el.attrib.get("action"),
                    start_on_enter=attrs.get("startConferenceOnEnter", "true") == "true",
                    end_on_exit=attrs.get("endConferenceOnExit", "false") == "true",
                    wait_url=attrs.get("waitUrl"),
                )
            )
        elif el.tag == "Gather":
            verbs.append(
                TwimlGather(
                    action=el.attrib.get("action"),
                    num_digits=int(el.attrib.get("numDigits", "0") or 0),
                    timeout_s=float(el.attrib.get("timeout", "5")),
                    says=tuple((c.text or "").strip() for c in el if c.tag == "Say"),
                )
            )
        elif el.tag == "Dial":
            number = (el.text or "").strip()
            for child in el:
                if not number and child.tag in ("Number", "Sip", "Client"):
                    number = (child.text or "").strip()
            verbs.append(TwimlDial(number))
        elif el.tag == "Start":
            for child in el:
                if child.tag == "Recording":
                    verbs.append(TwimlRecording(dict(child.attrib)))
                else:
                    verbs.append(TwimlOther(f"Start/{child.tag}"))
        elif el.tag == "Connect":
            stream = None
            for child in el:
                if child.tag == "Stream" and stream is None:
                    params = {
                        p.attrib.get("name", ""): p.attrib.get("value", "")
                        for p in child
                        if p.tag == "Parameter"
                    }
                    stream = TwimlStream(
                        url=child.attrib.get("url", ""),
                        status_callback=child.attrib.get("statusCallback"),
                        parameters=params,
                        name=child.attrib.get("name"),
                    )
            verbs.append(TwimlConnect(action=el.attrib.get("action"), stream=stream))
        elif el.tag == "Pause":
            verbs.append(TwimlPause(float(el.attrib.get("length", "1"))))
        elif el.tag == "Redirect":
            verbs.append(TwimlRedirect((el.text or "").strip()))
        elif el.tag == "Enqueue":
            name = (el.text or "").strip()
            verbs.append(TwimlEnqueue(name, el.attrib.get("action"), el.attrib.get("waitUrl")))
        elif el.tag == "Leave":
            verbs.append(TwimlLeave())
        else:
            verbs.append(TwimlOther(el.tag))
    return verbs


# --- results ---------------------------------------------------------------------------------


@dataclass(slots=True)
class CallResult:
    """Everything the simulated caller saw and did. Times are time.monotonic()."""

    call_sid: str
    twiml: list[str] = field(default_factory=list)  # every TwiML document received, in order
    webhook_ms: float = 0.0  # /twilio/voice round trip
    webhook_status: int | None = None
    refused_say: str | None = None  # <Say> text of the document that ended the call
    said: list[str] = field(default_factory=list)  # every <Say> heard
    streams: list[StreamRecord] = field(default_factory=list)
    transferred_to: str | None = None
    held_at: float | None = None  # entered a conference to wait (a warm transfer's hold)
    joined_at: float | None = None  # the conference started: someone joined the caller
    left_hold_at: float | None = None  # left the conference (redirected back, or it ended)
    queued_at: float | None = None  # entered a queue (`<Enqueue>`)
    left_queue_at: float | None = None  # left it: dequeued, `<Leave>`, hung up
    queue_result: str | None = None  # how: dequeued, leave, hangup, queue-full, redirected
    hung_up_via_rest: bool = False
    status_callback_status: int | None = None
    recording_callbacks: list[tuple[str, int | None]] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)  # Twilio debugger errors, with codes
    duration_s: float = 0.0

    @property
    def heard_ms(self) -> int:
        """Total agent audio played to the caller."""
        return sum(s.heard_bytes for s in self.streams) // BYTES_PER_MS

    def agent_segments(self) -> list[HeardSegment]:
        """Contiguous runs of played agent audio over all streams (times per own stream)."""
        return [seg for s in self.streams for seg in s.segments]

    def hold_ms(self) -> float | None:
        """A warm transfer's hold: entering the conference -> joined (or leaving unjoined)."""
        end = self.joined_at or self.left_hold_at
        if self.held_at is None or end is None:
            return None
        return (end - self.held_at) * 1000

    def first_audio_after_start_ms(self) -> float | None:
        """First stream: `start` sent -> first agent audio received."""
        return self.streams[0].first_audio_after_start_ms() if self.streams else None


# --- the caller ------------------------------------------------------------------------------


class TwilioCaller:
    """Places simulated inbound calls; safe to use for many concurrent calls."""

    def __init__(
        self,
        *,
        webhook_base: str,
        public_base_url: str,
        auth_token: str,
        account_sid: str = "AC" + "0" * 32,
        rest: TwilioRestFake | None = None,
        record_frames: bool = False,
        record_events: bool = True,
        record_audio: bool = True,
        media_connect_base: str | None = None,
        step_timeout: float = 30.0,
        stop_on_rest_hangup: bool = True,
        voice_path: str = "/twilio/voice",
        status_path: str = "/twilio/status",
        stream_connect_delay_s: float = 0.0,
    ) -> None:
        """`stream_connect_delay_s`: how long after the TwiML the media socket opens (Twilio
        takes a few hundred ms on a real call; 0 connects at once)."""
        if stream_connect_delay_s < 0:
            raise ValueError("stream_connect_delay_s must be >= 0")
        self.stream_connect_delay_s = stream_connect_delay_s
        self.webhook_base = webhook_base.rstrip("/")
        self.public_base_url = public_base_url.rstrip("/")
        self.account_sid = account_sid
        self.rest = rest
        self.record_frames = record_frames
        self.record_events = record_events
        self.record_audio = record_audio
        self.media_connect_base = media_connect_base.rstrip("/") if media_connect_base else None
        self.step_timeout = step_timeout
        self.stop_on_rest_hangup = stop_on_rest_hangup
        self.voice_path = voice_path
        self.status_path = status_path
        self._validator = RequestValidator(auth_token)

    def sign(self, url: str, params: dict[str, str]) -> str:
        return str(self._validator.compute_signature(url, params))

    def transport_url(self, url: str) -> str:
        """Where a request for public `url` is actually sent."""
        if url.startswith(self.public_base_url):
            return self.webhook_base + url[len(self.public_base_url) :]
        return url

    def stream_connect_url(self, url: str) -> str:
        if self.media_connect_base is None:
            return url
        parts = urlsplit(url)
        return self.media_connect_base + parts.path + (f"?{parts.query}" if parts.query else "")

    async def place_call(
        self, script: CallScript, *, call_sid: str | None = None, timeout: float = 60.0
    ) -> CallResult:
        """Run one call to its end; raises SimCallTimeout / SimStepTimeout with `.result`."""
        run = _CallRun(self, script, call_sid or new_sid("CA"))
        scope = asyncio.timeout(timeout)
        try:
            async with scope:
                return await run.run()
        except TimeoutError as exc:
            if not scope.expired():
                raise
            raise SimCallTimeout(
                f"call {run.result.call_sid} did not end within {timeout} s "
                f"(script step {run.cursor.index} of {len(script.steps)})",
                run.result,
            ) from exc
        finally:
            if self.rest is not None:
                self.rest.call_ended(run.result.call_sid, duration_s=run.result.duration_s)


class _CallRun:
    """One call: executes TwiML documents until the call ends; owns its side tasks."""

    def __init__(self, caller: TwilioCaller, script: CallScript, call_sid: str) -> None:
        self.caller = caller
        self.script = script
        self.cursor = ScriptCursor(script.steps)
        self.result = CallResult(call_sid=call_sid)
        self._stream: MediaStream | None = None
        self._rest_action: tuple[str, str] | None = None
        self._rest_event = asyncio.Event()
        self._recording: TwimlRecording | None = None
        self._answered_at = 0.0
        self._http: aiohttp.ClientSession | None = None
        self._bg: asyncio.TaskGroup | None = None
        self._last_status: int | None = None

    def _params(self, status: str) -> dict[str, str]:
        s = self.script
        return {
            "AccountSid": self.caller.account_sid,
            "ApiVersion": "2010-04-01",
            "CallSid": self.result.call_sid,
            "CallStatus": status,
            "Called": s.to_number,
            "Caller": s.from_number,
            "Direction": "inbound",
            "From": s.from_number,
            "To": s.to_number,
            "FromCity": "SPRINGFIELD",
            "FromState": "IL",
            "FromCountry": "US",
            "ToCountry": "US",
        }

    async def run(self) -> CallResult:
        for step in self.script.steps:  # precompute audio before the clock starts
            if isinstance(step, Speak | BargeIn):
                utterance_payloads(step)
        caller, result = self.caller, self.result
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
            self._http, self._bg = http, bg
            params = self._params("ringing")
            params["CallToken"] = secrets.token_urlsafe(48)
            t = time.perf_counter()
            doc = await self._post(caller.public_base_url + caller.voice_path, params)
            result.webhook_ms = (time.perf_counter() - t) * 1000
            result.webhook_status = self._last_status
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
            await self._recording_callback("completed")
        params = self._params("completed")
        params.update(
            CallDuration=str(round(result.duration_s)),
            SequenceNumber="0",
            Timestamp=format_datetime(datetime.now(UTC)),
            CallbackSource="call-progress-events",
        )
        url = self.caller.public_base_url + self.caller.status_path
        result.status_callback_status = await self._post_status(url, params)

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
        self._rest_event.set()
        if self._stream is not None:
            self._stream.terminate()

    async def _apply_rest(self) -> str | None:
        action = self._rest_action
        self._rest_action = None
        self._rest_event.clear()
        if action is None or action[0] == "hangup":
            self.result.hung_up_via_rest = True
            return None
        if action[0] == "twiml":
            return action[1]
        return await self._post(action[1], self._params("in-progress"))

    # -- TwiML execution ------------------------------------------------------------------------

    async def _run_document(self, doc: str) -> str | None:
        """Execute one TwiML document; returns the next document, or None: the call ended."""
        result = self.result
        result.twiml.append(doc)
        try:
            verbs = parse_twiml(doc)
        except TwimlError as exc:
            result.violations.append(f"12100 {exc}")
            return None
        says: list[str] = []
        for verb in verbs:
            if self._rest_action is not None:
                return await self._apply_rest()
            if isinstance(verb, TwimlSay):
                says.append(verb.text)
                result.said.append(verb.text)
            elif isinstance(verb, TwimlHangup):
                break
            elif isinstance(verb, TwimlDial):
                result.transferred_to = verb.number
                return None
            elif isinstance(verb, TwimlConference):
                return await self._conference(verb)
            elif isinstance(verb, TwimlEnqueue):
                queued = await self._enqueue(verb)
                if queued != "continue":
                    return queued
            elif isinstance(verb, TwimlRecording):
                self._recording = verb
                if "in-progress" in verb.attributes.get("recordingStatusCallbackEvent", ""):
                    self._spawn(self._recording_callback("in-progress"))
            elif isinstance(verb, TwimlPause):
                await asyncio.sleep(min(verb.seconds, 10.0))
            elif isinstance(verb, TwimlRedirect):
                return await self._post(self._absolute(verb.url), self._params("in-progress"))
            elif isinstance(verb, TwimlConnect):
                if verb.stream is None:
                    result.violations.append("12200 <Connect> without <Stream>")
                    continue
                closed_by = await self._run_stream(verb.stream)
                if closed_by == "caller":
                    return None
                if closed_by == "rest" or self._rest_action is not None:
                    return await self._apply_rest()
                if verb.action:  # the server closed the socket, or it broke
                    action = self._absolute(verb.action)
                    return await self._post(action, self._params("in-progress"))
            elif isinstance(verb, TwimlGather):
                result.violations.append("12200 TwiML verb <Gather> not simulated for a caller")
            elif isinstance(verb, TwimlLeave):
                result.violations.append("12200 <Leave> outside a queue's wait URL")
            else:
                result.violations.append(f"12200 TwiML verb <{verb.name}> not simulated")
        if self._rest_action is not None:
            return await self._apply_rest()
        if says:
            result.refused_say = " ".join(says)
        return None

    async def _conference(self, verb: TwimlConference) -> str | None:
        """Wait in the conference (hearing its wait URL) until someone starts it, then stay
        until it ends; a REST update takes the call out of it at any time. A caller out of
        patience (`CallScript.hold_patience_s`) hangs up while still waiting."""
        rest, result = self.caller.rest, self.result
        if rest is None:
            result.violations.append("sim: <Conference> needs the REST fake")
            return None
        room = rest.conferences.join(
            self.caller.account_sid,
            verb.name,
            result.call_sid,
            start_on_enter=verb.start_on_enter,
            end_on_exit=verb.end_on_exit,
            now=time.monotonic(),
        )
        if room.status == "init":
            result.held_at = time.monotonic()
            if verb.wait_url:
                self._spawn(self._hold_music(self._absolute(verb.wait_url), room.sid))
        waits = [asyncio.ensure_future(e.wait()) for e in (room.started, self._rest_event)]
        patience = self.script.hold_patience_s
        gave_up = asyncio.ensure_future(asyncio.sleep(86400 if patience is None else patience))
        try:
            await asyncio.wait([*waits, gave_up], return_when=asyncio.FIRST_COMPLETED)
            if room.status == "in-progress" and self._rest_action is None:
                result.joined_at = time.monotonic()
                waits.append(asyncio.ensure_future(room.ended.wait()))
                await asyncio.wait(waits[1:], return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiting in (*waits, gave_up):
                waiting.cancel()
        rest.conferences.leave(room, result.call_sid)
        result.left_hold_at = time.monotonic()
        if gave_up.done() and not gave_up.cancelled() and result.joined_at is None:
            return None  # hung up on hold
        if self._rest_action is not None:
            return await self._apply_rest()
        if verb.action is None:
            return None
        params = self._params("in-progress")
        params.update(DialCallStatus="completed", ConferenceSid=room.sid)
        return await self._post(self._absolute(verb.action), params)

    async def _enqueue(self, verb: TwimlEnqueue) -> str | None:
        """Hold in the queue, running its wait URL's TwiML again each time it ends, until a
        REST dequeue (the call runs the member's URL), `<Leave>` or a queue error (the
        `<Enqueue action>` with `QueueResult`, or the next verb without one: "continue"), a
        REST update of the call, or the caller's patience (`CallScript.queue_patience_s`) runs
        out: they hang up (the action is told `hangup`; the call ends)."""
        rest, result = self.caller.rest, self.result
        if rest is None:
            result.violations.append("sim: <Enqueue> needs the REST fake")
            return None
        now = time.monotonic()
        queue = rest.queues.enter(self.caller.account_sid, verb.name, result.call_sid, now)
        if queue is None:
            return await self._queue_action(verb, "queue-full", None, now)
        result.queued_at = now
        member = queue.members[result.call_sid]
        patience = self.script.queue_patience_s
        hold = asyncio.ensure_future(self._queue_wait_loop(verb, queue))
        waits = [
            hold,
            asyncio.ensure_future(member.dequeued.wait()),
            asyncio.ensure_future(self._rest_event.wait()),
            asyncio.ensure_future(asyncio.sleep(patience if patience is not None else 86400)),
        ]
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiting in waits:
                waiting.cancel()
        result.left_queue_at = time.monotonic()
        rest.queues.leave(queue, result.call_sid, result.left_queue_at)
        if member.url is not None:
            result.queue_result = "dequeued"
            params = self._params("in-progress")
            params.update(QueueSid=queue.sid, QueueTime=str(round(result.left_queue_at - now)))
            return await self._post(self._absolute(member.url), params)
        if self._rest_action is not None:
            result.queue_result = "redirected"
            return await self._apply_rest()
        ended = hold.result() if hold.done() and not hold.cancelled() else "hangup"
        if ended == "hangup-verb":  # <Hangup> in the wait TwiML ends the call
            result.queue_result = "hangup"
            return None
        doc = await self._queue_action(verb, ended, queue.sid, now)
        return None if ended == "hangup" else doc

    async def _queue_action(
        self, verb: TwimlEnqueue, outcome: str, queue_sid: str | None, since: float
    ) -> str | None:
        self.result.queue_result = outcome
        if verb.action is None:
            return "continue"
        params = self._params("completed" if outcome == "hangup" else "in-progress")
        params.update(QueueResult=outcome, QueueTime=str(round(time.monotonic() - since)))
        if queue_sid is not None:
            params["QueueSid"] = queue_sid
        return await self._post(self._absolute(verb.action), params)

    async def _queue_wait_loop(self, verb: TwimlEnqueue, queue: FakeQueue) -> str:
        """The wait URL's TwiML, fetched again each time it ends: "leave" or "hangup-verb"."""
        call_sid = self.result.call_sid
        while True:
            if verb.wait_url is None:
                await asyncio.sleep(3600)  # Twilio's default hold music
                continue
            params = self._params("in-progress")
            params.update(
                QueueSid=queue.sid,
                QueueTime=str(round(time.monotonic() - queue.members[call_sid].joined)),
                QueuePosition=str(queue.position(call_sid)),
                CurrentQueueSize=str(len(queue.members)),
                AvgQueueTime=str(queue.average_wait_s()),
                MaxQueueSize=str(queue.max_size),
            )
            doc = await self._post(self._absolute(verb.wait_url), params)
            try:
                verbs = parse_twiml(doc) if doc is not None else []
            except TwimlError as exc:
                self.result.violations.append(f"12100 wait URL: {exc}")
                verbs = []
            if not verbs:
                await asyncio.sleep(1.0)
            for wait_verb in verbs:
                if isinstance(wait_verb, TwimlSay):
                    self.result.said.append(wait_verb.text)
                elif isinstance(wait_verb, TwimlPause):
                    await asyncio.sleep(wait_verb.seconds)
                elif isinstance(wait_verb, TwimlLeave):
                    return "leave"
                elif isinstance(wait_verb, TwimlHangup):
                    return "hangup-verb"
                else:
                    name = type(wait_verb).__name__.removeprefix("Twiml")
                    self.result.violations.append(f"12200 <{name}> not allowed in a wait URL")

    async def _hold_music(self, url: str, conference_sid: str) -> None:
        """The conference's wait URL, fetched once (its `<Say>` is what the caller hears)."""
        params = self._params("in-progress")
        params.update(ConferenceSid=conference_sid, QueuePosition="1", QueueTime="0")
        doc = await self._post(url, params)
        if doc is None:
            return
        try:
            verbs = parse_twiml(doc)
        except TwimlError as exc:
            self.result.violations.append(f"12100 wait URL: {exc}")
            return
        self.result.said.extend(v.text for v in verbs if isinstance(v, TwimlSay))

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
                self._spawn(self._stream_callback(stream, rec, event))

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

    # -- HTTP -----------------------------------------------------------------------------------

    def _absolute(self, url: str) -> str:
        return urljoin(self.caller.public_base_url + self.caller.voice_path, url)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        assert self._bg is not None
        self._bg.create_task(coro)

    async def _post(self, url: str, params: dict[str, str]) -> str | None:
        """POST a signed webhook and return the TwiML; failures are Twilio errors, not raised."""
        assert self._http is not None
        path = urlsplit(url).path
        headers = {"X-Twilio-Signature": self.caller.sign(url, params)}
        try:
            async with self._http.post(
                self.caller.transport_url(url), data=params, headers=headers, timeout=HTTP_TIMEOUT
            ) as resp:
                body = await resp.text()
                self._last_status = resp.status
                if resp.status != 200:
                    self.result.violations.append(f"11200 POST {path} returned HTTP {resp.status}")
                    return None
                if resp.content_type not in ("text/xml", "application/xml"):
                    self.result.violations.append(f"12300 POST {path}: {resp.content_type}")
                return body
        except (aiohttp.ClientError, TimeoutError) as exc:
            self.result.violations.append(f"11205 POST {path} failed: {exc!r}")
            return None

    async def _post_status(self, url: str, params: dict[str, str]) -> int | None:
        assert self._http is not None
        headers = {"X-Twilio-Signature": self.caller.sign(url, params)}
        try:
            async with self._http.post(
                self.caller.transport_url(url), data=params, headers=headers, timeout=SIDE_TIMEOUT
            ) as resp:
                await resp.read()
                if resp.status >= 300:
                    path = urlsplit(url).path
                    self.result.violations.append(f"11200 POST {path} returned {resp.status}")
                return resp.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            self.result.violations.append(f"11205 POST {url} failed: {exc!r}")
            return None

    async def _stream_callback(self, stream: TwimlStream, rec: StreamRecord, event: str) -> None:
        assert stream.status_callback is not None
        params = {
            "AccountSid": self.caller.account_sid,
            "CallSid": self.result.call_sid,
            "StreamSid": rec.stream_sid,
            "StreamName": stream.name or rec.stream_sid,
            "StreamEvent": event,
            "Timestamp": datetime.now(UTC).isoformat(),
        }
        if event == "stream-error":
            params["StreamError"] = "WebSocket handshake failed"
        status = await self._post_status(self._absolute(stream.status_callback), params)
        rec.status_callbacks.append((event, status))

    async def _recording_callback(self, status: str) -> None:
        verb = self._recording
        assert verb is not None
        attrs = verb.attributes
        url = attrs.get("recordingStatusCallback")
        events = attrs.get("recordingStatusCallbackEvent", "completed").split()
        if not url or status not in events:
            return
        caller, result = self.caller, self.result
        rec_sid = "RE" + result.call_sid[2:]
        channels = 2 if attrs.get("channels") == "dual" else 1
        base = caller.rest.base_url if caller.rest is not None else "https://api.twilio.com"
        params = {
            "AccountSid": caller.account_sid,
            "CallSid": result.call_sid,
            "RecordingSid": rec_sid,
            "RecordingUrl": f"{base}/2010-04-01/Accounts/{caller.account_sid}/Recordings/{rec_sid}",
            "RecordingStatus": status,
            "RecordingChannels": str(channels),
            "RecordingSource": "StartCallRecording",
            "RecordingTrack": attrs.get("recordingTrack", "both"),
            "RecordingStartTime": format_datetime(datetime.now(UTC)),
        }
        if status == "completed":
            params["RecordingDuration"] = str(round(result.duration_s))
            params["ErrorCode"] = "0"
            if caller.rest is not None:
                caller.rest.add_recording(caller.account_sid, rec_sid, _placeholder_wav(channels))
        code = await self._post_status(self._absolute(url), params)
        result.recording_callbacks.append((status, code))


def _placeholder_wav(channels: int) -> bytes:
    """One second of 8 kHz 16-bit silence: the fake has no mixed call audio to offer."""
    buf = io.BytesIO()
    with wave.open(buf, "wb") as wav:
        wav.setnchannels(channels)
        wav.setsampwidth(2)
        wav.setframerate(8000)
        wav.writeframes(bytes(8000 * 2 * channels))
    return buf.getvalue()
