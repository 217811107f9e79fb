"""Calls and conferences of the Twilio REST fake (engine.sim.twilio_rest).

Endpoints (I/O through the fake's aiohttp server): call fetch and update
`.../Calls/{CallSid}.json` (Status completed or canceled, or new `Twiml`/`Url`, delivered to the
live call's update callback), outbound calls `POST .../Calls.json` (201, the call `queued`; the
`dialer` a test sets places it, see engine.sim.twilio_phones) and conference fetch
`.../Conferences/{ConferenceSid}.json` (the rooms themselves are engine.sim.twilio_conference's).
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable, Callable, Coroutine
from datetime import UTC, datetime
from typing import Any

import structlog
from aiohttp import web

from engine.sim.twilio_conference import Conferences, FakeConference
from engine.sim.twilio_rest_wire import (
    API,
    LIVE,
    FakeCall,
    RestBase,
    not_found,
    rfc2822,
    twilio_error,
)

log = structlog.get_logger(__name__)

CallUpdateCallback = Callable[[dict[str, str]], Awaitable[None]]
# Places an outbound call: (the call, the create request's form, its StatusCallbackEvent list)
Dialer = Callable[[FakeCall, dict[str, str], list[str]], Coroutine[Any, Any, None]]


class CallsApi(RestBase):
    """Call and conference endpoints, and the hooks the simulated caller drives calls with."""

    _callbacks: dict[str, CallUpdateCallback]
    conferences: Conferences
    dialer: Dialer | None  # places outbound calls; without one they stay queued
    _dialing: set[asyncio.Task[None]]

    def _call_routes(self) -> list[web.RouteDef]:
        return [
            web.route("POST", API + "/Calls.json", self._create_call),
            web.route("GET", API + "/Conferences/{conf_sid}.json", self._fetch_conference),
            web.route("POST", API + "/Calls/{call_sid}.json", self._update_call),
            web.route("GET", API + "/Calls/{call_sid}.json", self._fetch_call),
        ]

    def add_call(
        self,
        call_sid: str,
        *,
        account_sid: str,
        from_number: str,
        to_number: str,
        status: str = "in-progress",
    ) -> None:
        self.calls[call_sid] = FakeCall(call_sid, account_sid, from_number, to_number, status)

    def on_call_update(self, call_sid: str, callback: CallUpdateCallback) -> None:
        """Deliver REST updates of `call_sid` (form params) to `callback` while it is live."""
        if call_sid not in self.calls:
            self.calls[call_sid] = FakeCall(call_sid, "", "", "")
        self._callbacks[call_sid] = callback

    def set_status(self, call_sid: str, status: str) -> None:
        """The simulated far end moved the call on (ringing, in-progress, or a final status)."""
        call = self.calls[call_sid]
        call.status, call.updated = status, datetime.now(UTC)
        if status not in LIVE:
            call.ended = call.ended or call.updated

    def _call_json(self, call: FakeCall) -> dict[str, Any]:
        uri = f"/2010-04-01/Accounts/{call.account_sid}/Calls/{call.sid}"
        return {
            "sid": call.sid,
            "date_created": rfc2822(call.created),
            "date_updated": rfc2822(call.updated),
            "parent_call_sid": None,
            "account_sid": call.account_sid,
            "to": call.to_number,
            "to_formatted": call.to_number,
            "from": call.from_number,
            "from_formatted": call.from_number,
            "phone_number_sid": None,
            "status": call.status,
            "start_time": rfc2822(call.created),
            "end_time": rfc2822(call.ended),
            "duration": str(call.duration_s) if call.duration_s is not None else None,
            "price": None,
            "price_unit": "USD",
            "direction": call.direction,
            "answered_by": None,
            "api_version": "2010-04-01",
            "forwarded_from": None,
            "group_sid": None,
            "caller_name": None,
            "queue_time": "0",
            "trunk_sid": None,
            "uri": uri + ".json",
            "subresource_uris": {
                name: f"{uri}/{path}.json"
                for name, path in (
                    ("feedback", "Feedback"),
                    ("user_defined_messages", "UserDefinedMessages"),
                    ("notifications", "Notifications"),
                    ("recordings", "Recordings"),
                    ("streams", "Streams"),
                    ("payments", "Payments"),
                    ("user_defined_message_subscriptions", "UserDefinedMessageSubscriptions"),
                    ("siprec", "Siprec"),
                    ("events", "Events"),
                    ("feedback_summaries", "FeedbackSummary"),
                    ("transcriptions", "Transcriptions"),
                )
            },
        }

    async def _fetch_call(self, request: web.Request) -> web.Response:
        call = self._live_call(request)
        if call is None:
            return not_found(request)
        return web.json_response(self._call_json(call))

    async def _create_call(self, request: web.Request) -> web.Response:
        """An outbound call: 201 with the call `queued`; the dialer places it."""
        form = await request.post()
        params = {k: str(v) for k, v in form.items()}
        events = [str(v) for v in form.getall("StatusCallbackEvent", [])]
        if not params.get("To"):
            return twilio_error(400, 21201, "No 'To' number is specified")
        if not params.get("From"):
            return twilio_error(400, 21213, "No 'From' number is specified")
        if not params.get("Url") and not params.get("Twiml"):
            return twilio_error(400, 21205, "Url parameter is required.")
        timeout = params.get("Timeout", "60")
        if not timeout.isdigit() or not 1 <= int(timeout) <= 600:
            return twilio_error(400, 21207, f"Invalid Timeout: {timeout}")
        call = FakeCall(
            "CA" + secrets.token_hex(16),
            request.match_info["account_sid"],
            params["From"],
            params["To"],
            status="queued",
            direction="outbound-api",
        )
        self.calls[call.sid] = call
        if self.dialer is not None:
            task = asyncio.get_running_loop().create_task(self.dialer(call, params, events))
            self._dialing.add(task)
            task.add_done_callback(self._dialing.discard)
        log.info("sim_rest_call_created", call_sid=call.sid, pii_to=call.to_number)
        return web.json_response(self._call_json(call), status=201)

    async def _update_call(self, request: web.Request) -> web.Response:
        call = self._live_call(request)
        if call is None:
            return not_found(request)
        form = await request.post()
        params = {k: str(v) for k, v in form.items()}
        status, twiml, url = params.get("Status"), params.get("Twiml"), params.get("Url")
        if status is not None and status not in ("completed", "canceled"):
            return twilio_error(400, 20001, f"Invalid Status: {status}")
        live = call.status in LIVE
        if (twiml or url) and not live:
            return twilio_error(400, 21220, "Call is not in-progress. Cannot redirect.")
        # `canceled` only applies to queued or ringing calls; Twilio ignores it otherwise.
        ends = status == "completed" or (status == "canceled" and call.status != "in-progress")
        if live and (ends or twiml or url):
            if ends:
                call.status = "completed" if status == "completed" else "canceled"
                call.ended = datetime.now(UTC)
            call.updated = datetime.now(UTC)
            callback = self._callbacks.get(call.sid)
            if callback is not None:
                try:
                    await asyncio.wait_for(callback(params), timeout=5.0)
                except Exception:
                    log.exception("sim_rest_callback_failed", call_sid=call.sid)
        log.info("sim_rest_call_updated", call_sid=call.sid, status=call.status)
        return web.json_response(self._call_json(call))

    def _conference_json(self, room: FakeConference) -> dict[str, Any]:
        uri = f"/2010-04-01/Accounts/{room.account_sid}/Conferences/{room.sid}"
        return {
            "account_sid": room.account_sid,
            "api_version": "2010-04-01",
            "call_sid_ending_conference": room.ended_by,
            "date_created": rfc2822(room.created),
            "date_updated": rfc2822(room.updated),
            "friendly_name": room.name,
            "reason_conference_ended": (
                "participant-with-end-conference-on-exit-left"
                if room.status == "completed"
                else None
            ),
            "region": "us1",
            "sid": room.sid,
            "status": room.status,
            "subresource_uris": {
                "participants": f"{uri}/Participants.json",
                "recordings": f"{uri}/Recordings.json",
            },
            "uri": uri + ".json",
        }

    async def _fetch_conference(self, request: web.Request) -> web.Response:
        room = self.conferences.by_sid.get(request.match_info["conf_sid"])
        if room is None or room.account_sid != request.match_info["account_sid"]:
            return not_found(request)
        return web.json_response(self._conference_json(room))
