"""The people a simulated Twilio calls: what happens to an outbound call the REST fake places
(`TwilioRestFake.dialer = phones.dial`).

Each number has a `Phone`: it accepts (answers, hears the TwiML, presses the accept key, joins
the conference it is dialled into and talks a while), declines (presses another key), hangs up
without a key, rings out (no-answer), is busy, or fails. The call's progress goes to its
`StatusCallback` as Twilio sends it: `initiated`, `ringing`, `in-progress` (the `answered`
event) and the final status (`completed` event: completed, busy, no-answer, failed, with
`CallDuration`), each signed with `X-Twilio-Signature` by the account's auth token, only for
the events the create request asked for. `<Gather action>` answers are posted signed too.
I/O: aiohttp to the engine's webhooks.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Literal
from urllib.parse import urljoin

import aiohttp
import structlog
from twilio.request_validator import RequestValidator

from engine.sim.twilio_rest import TwilioRestFake
from engine.sim.twilio_rest_wire import FakeCall
from engine.sim.twiml_verbs import (
    TwimlConference,
    TwimlError,
    TwimlGather,
    TwimlHangup,
    TwimlSay,
    parse_twiml,
)

log = structlog.get_logger(__name__)

TIMEOUT = aiohttp.ClientTimeout(total=15)
# Twilio sends each status with the event that asked for it; final statuses under `completed`.
_EVENT_OF = {"initiated": "initiated", "ringing": "ringing", "in-progress": "answered"}

# silent: answers, hears the whisper and presses nothing (the Gather times out, capped at
# no_answer_cap_s, and the TwiML after it runs)
Answer = Literal["accept", "decline", "hang-up", "silent", "no-answer", "busy", "failed"]


@dataclass(frozen=True, slots=True)
class Phone:
    answer: Answer = "accept"
    ring_s: float = 0.5  # rings this long before answering (no-answer: up to the call's timeout)
    talk_s: float = 0.5  # once joined, talks this long and hangs up
    accept_key: str = "1"
    decline_key: str = "2"


@dataclass(slots=True)
class PlacedCall:
    """What one simulated person's phone saw. Times are time.monotonic()."""

    call_sid: str
    to: str
    created: float
    statuses: list[tuple[str, int | None]] = field(default_factory=list)  # sent, HTTP answer
    heard: list[str] = field(default_factory=list)
    pressed: list[str] = field(default_factory=list)
    joined_at: float | None = None
    ended_at: float | None = None


class TargetPhones:
    """Phones by number (`Phone()` for any other) for the REST fake's outbound calls."""

    def __init__(
        self,
        rest: TwilioRestFake,
        *,
        webhook_base: str,
        public_base_url: str,
        auth_tokens: Mapping[str, str],
        no_answer_cap_s: float = 1.0,
    ) -> None:
        self.rest = rest
        self.webhook_base = webhook_base.rstrip("/")
        self.public_base_url = public_base_url.rstrip("/")
        self._tokens = dict(auth_tokens)
        self.no_answer_cap_s = no_answer_cap_s  # a no-answer rings this long at most
        self.phones: dict[str, Phone] = {}
        self.placed: list[PlacedCall] = []
        rest.dialer = self.dial

    def _transport(self, url: str) -> str:
        if url.startswith(self.public_base_url):
            return self.webhook_base + url[len(self.public_base_url) :]
        return url

    async def _post(
        self, http: aiohttp.ClientSession, call: FakeCall, url: str, params: dict[str, str]
    ) -> tuple[int | None, str]:
        token = self._tokens.get(call.account_sid, "")
        signature = RequestValidator(token).compute_signature(url, params)
        try:
            async with http.post(
                self._transport(url),
                data=params,
                headers={"X-Twilio-Signature": signature},
                timeout=TIMEOUT,
            ) as resp:
                return resp.status, await resp.text()
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.warning("sim_phone_post_failed", url=url, error=repr(exc))
            return None, ""

    def _params(self, call: FakeCall, status: str) -> dict[str, str]:
        return {
            "AccountSid": call.account_sid,
            "ApiVersion": "2010-04-01",
            "CallSid": call.sid,
            "CallStatus": status,
            "Called": call.to_number,
            "Caller": call.from_number,
            "Direction": "outbound-api",
            "From": call.from_number,
            "To": call.to_number,
        }

    async def dial(self, call: FakeCall, create: dict[str, str], events: list[str]) -> None:
        """Run the outbound call `call` to its end (the REST fake's dialer)."""
        phone = self.phones.get(call.to_number, Phone())
        placed = PlacedCall(call.sid, call.to_number, time.monotonic())
        self.placed.append(placed)
        callback = create.get("StatusCallback", "")
        wanted = set(events or ["completed"])
        sequence = 0
        answered_at: float | None = None

        async with aiohttp.ClientSession() as http:

            async def status(value: str) -> None:
                nonlocal sequence
                self.rest.set_status(call.sid, value)
                event = _EVENT_OF.get(value, "completed")
                if not callback or event not in wanted:
                    return
                params = self._params(call, value)
                params.update(
                    SequenceNumber=str(sequence),
                    Timestamp=format_datetime(datetime.now(UTC)),
                    CallbackSource="call-progress-events",
                )
                if event == "completed":
                    spoke = time.monotonic() - answered_at if answered_at else 0.0
                    params["CallDuration"] = str(round(spoke))
                sequence += 1
                code, _ = await self._post(http, call, callback, params)
                placed.statuses.append((value, code))

            await status("initiated")
            if phone.answer == "failed":
                await status("failed")
                return
            await asyncio.sleep(0.05)
            await status("ringing")
            if phone.answer == "busy":
                await asyncio.sleep(0.05)
                await status("busy")
                return
            if phone.answer == "no-answer":
                ring = min(float(create.get("Timeout", "60")), self.no_answer_cap_s)
                await asyncio.sleep(ring)
                await status("no-answer")
                return
            await asyncio.sleep(phone.ring_s)
            answered_at = time.monotonic()
            await status("in-progress")
            await self._run(http, call, phone, placed, create)
            placed.ended_at = time.monotonic()
            await status("completed")

    async def _run(
        self,
        http: aiohttp.ClientSession,
        call: FakeCall,
        phone: Phone,
        placed: PlacedCall,
        create: dict[str, str],
    ) -> None:
        """The answered call's TwiML, document after document, until it hangs up."""
        doc: str | None = create.get("Twiml")
        if doc is None:
            _, doc = await self._post(http, call, create["Url"], self._params(call, "in-progress"))
        for _ in range(10):
            try:
                verbs = parse_twiml(doc or "")
            except TwimlError as exc:
                log.warning("sim_phone_bad_twiml", error=str(exc))
                return
            doc = None
            for verb in verbs:
                if isinstance(verb, TwimlSay):
                    placed.heard.append(verb.text)
                elif isinstance(verb, TwimlHangup):
                    return
                elif isinstance(verb, TwimlGather):
                    placed.heard.extend(verb.says)
                    if phone.answer == "hang-up":
                        return
                    if phone.answer == "silent":
                        await asyncio.sleep(min(verb.timeout_s, self.no_answer_cap_s))
                        continue
                    key = phone.accept_key if phone.answer == "accept" else phone.decline_key
                    placed.pressed.append(key)
                    params = self._params(call, "in-progress")
                    params.update(Digits=key, FinishedOnKey="")
                    url = urljoin(self.public_base_url + "/", verb.action or "")
                    _, doc = await self._post(http, call, url, params)
                    break
                elif isinstance(verb, TwimlConference):
                    await self._talk(call, phone, placed, verb)
                    return
            if doc is None:
                return

    async def _talk(
        self, call: FakeCall, phone: Phone, placed: PlacedCall, verb: TwimlConference
    ) -> None:
        room = self.rest.conferences.join(
            call.account_sid,
            verb.name,
            call.sid,
            start_on_enter=verb.start_on_enter,
            end_on_exit=verb.end_on_exit,
            now=time.monotonic(),
        )
        placed.joined_at = time.monotonic()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(room.ended.wait(), phone.talk_s)
        self.rest.conferences.leave(room, call.sid)
