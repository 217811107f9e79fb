"""A fake of the Twilio REST API (2010-04-01) for calls, messages and recording media.

I/O: an aiohttp.web server on 127.0.0.1 (port 0 by default). Paths, form fields and JSON shapes
follow the twilio SDK (twilio/rest/api/v2010/...): call update/fetch
`/2010-04-01/Accounts/{AccountSid}/Calls/{CallSid}.json`, message create and list
`.../Messages.json` (list filters `To`, `From`, `DateSent>`; one page), numbers that said STOP
refused with error 21610 as Twilio's opt-out handling does, a live call's recordings started
`.../Calls/{CallSid}/Recordings.json` (201; error 21220 when the call is not in progress) and
updated `.../Calls/{CallSid}/Recordings/{RecordingSid|Twilio.CURRENT}.json` (Status stopped,
paused or in-progress; 404 with no such recording), recording media
`.../Recordings/{RecordingSid}.wav|.mp3` and its deletion `DELETE .../Recordings/{Sid}.json`,
outbound calls `POST .../Calls.json` (201; `To`, `From` and `Url` or `Twiml` required: errors
21201, 21213, 21205; the call is then placed by the `dialer` a test sets, see
engine.sim.twilio_phones) and conferences `GET .../Conferences/{ConferenceSid}.json` (404 for
an unknown sid; the rooms themselves are engine.sim.twilio_conference's), queues
`GET .../Queues.json`, `.../Queues/{QueueSid}.json`, their members `.../Members.json` and
`.../Members/{CallSid|Front}.json`, and a member's dequeue `POST .../Members/{CallSid|Front}.json`
(`Url` required, error 21205; 404 when the call is not in the queue; the queues themselves,
which `<Enqueue>` makes, are engine.sim.twilio_queues').
A recording started by REST sends no status
callback here (the simulated caller sends those of TwiML recordings). Errors use Twilio's
legacy error JSON (`code`, `message`, `more_info`, `status`), which the SDK turns into
`TwilioRestException`.

Pointing the real SDK here: set `client.api.base_url = fake.base_url`. `Domain.absolute_url`
(twilio/base/domain.py) builds every URL from the *domain's* `base_url`; the `V2010` version
object has no base URL of its own, so `client.api.v2010.base_url` is ignored, and the SDK reads
no base-URL environment variable (only TWILIO_ACCOUNT_SID/AUTH_TOKEN/EDGE/REGION; leave edge and
region unset or the SDK rewrites the host). Works for the sync client and for
`Client(..., http_client=AsyncTwilioHttpClient())` with the `*_async` methods.

Calls are known to the fake through `add_call` (the simulated caller does this) and reach the
live call through the callback given to `on_call_update`.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
import secrets
import time
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

import structlog
from aiohttp import web

from engine.sim.twilio_conference import Conferences, FakeConference
from engine.sim.twilio_queues import FakeQueue, Member, Queues

log = structlog.get_logger(__name__)

API = "/2010-04-01/Accounts/{account_sid}"
LIVE = frozenset({"queued", "ringing", "in-progress"})

CallUpdateCallback = Callable[[dict[str, str]], Awaitable[None]]
# Places an outbound call: (the call, the create request's form, its StatusCallbackEvent list)
Dialer = Callable[["FakeCall", dict[str, str], list[str]], Coroutine[Any, Any, None]]


@dataclass(frozen=True, slots=True)
class RestRequest:
    method: str
    path: str
    params: dict[str, str]  # form fields of a POST, query of a GET
    account_sid: str | None  # Basic auth username
    time: float  # time.monotonic()
    status: int


@dataclass(slots=True)
class FakeCall:
    sid: str
    account_sid: str
    from_number: str
    to_number: str
    status: str = "in-progress"
    created: datetime = field(default_factory=lambda: datetime.now(UTC))
    updated: datetime = field(default_factory=lambda: datetime.now(UTC))
    ended: datetime | None = None
    duration_s: int | None = None
    direction: str = "inbound"


@dataclass(slots=True)
class FakeRecording:
    """A recording of a live call started through the REST API."""

    sid: str
    call_sid: str
    account_sid: str
    status: str = "in-progress"  # in-progress, paused, stopped; completed once the call ends
    params: dict[str, str] = field(default_factory=dict)  # the create request's form
    created: datetime = field(default_factory=lambda: datetime.now(UTC))
    updated: datetime = field(default_factory=lambda: datetime.now(UTC))


def _rfc2822(dt: datetime | None) -> str | None:
    return format_datetime(dt) if dt is not None else None


def twilio_error(status: int, code: int, message: str) -> web.Response:
    body = {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }
    headers = {"WWW-Authenticate": 'Basic realm="Twilio API"'} if status == 401 else None
    return web.json_response(body, status=status, headers=headers)


class TwilioRestFake:
    """In-memory Twilio REST API. State: calls, messages, recordings, every request seen."""

    def __init__(self, *, accounts: Mapping[str, str] | None = None) -> None:
        self._accounts = dict(accounts) if accounts is not None else None
        self.base_url = ""
        self.requests: list[RestRequest] = []
        self.messages: list[dict[str, Any]] = []
        self.opted_out: set[str] = set()  # numbers that replied STOP: sends fail with 21610
        self.messages_down_until = 0.0  # time.monotonic() before which sends answer 503
        self.slow_messages = 0  # the next N sends are accepted but answered only after 2 s
        self.calls: dict[str, FakeCall] = {}
        self._callbacks: dict[str, CallUpdateCallback] = {}
        self._recordings: dict[tuple[str, str], tuple[bytes, str]] = {}
        self.call_recordings: dict[str, list[FakeRecording]] = {}  # by call, oldest first
        self.deleted_recordings: list[str] = []
        self.conferences = Conferences()
        self.queues = Queues()
        self.dialer: Dialer | None = None  # places outbound calls; without one they stay queued
        self._dialing: set[asyncio.Task[None]] = set()
        self._runner: web.AppRunner | None = None

    # -- lifecycle ------------------------------------------------------------------------------

    async def start(self, port: int = 0) -> None:
        app = web.Application(middlewares=[self._record])
        app.router.add_route("POST", API + "/Calls.json", self._create_call)
        app.router.add_route("GET", API + "/Conferences/{conf_sid}.json", self._fetch_conference)
        app.router.add_route("POST", API + "/Calls/{call_sid}.json", self._update_call)
        app.router.add_route("GET", API + "/Queues.json", self._list_queues)
        app.router.add_route("GET", API + "/Queues/{queue_sid}.json", self._fetch_queue)
        app.router.add_route("GET", API + "/Queues/{queue_sid}/Members.json", self._list_members)
        members = API + "/Queues/{queue_sid}/Members/{call_sid}.json"
        app.router.add_route("GET", members, self._fetch_member)
        app.router.add_route("POST", members, self._dequeue_member)
        app.router.add_route("GET", API + "/Calls/{call_sid}.json", self._fetch_call)
        app.router.add_route(
            "POST", API + "/Calls/{call_sid}/Recordings.json", self._create_call_recording
        )
        app.router.add_route(
            "POST",
            API + "/Calls/{call_sid}/Recordings/{rec_sid:[^/]+}.json",
            self._update_call_recording,
        )
        app.router.add_route("POST", API + "/Messages.json", self._create_message)
        app.router.add_route("GET", API + "/Messages.json", self._list_messages)
        app.router.add_route(
            "GET", API + "/Recordings/{rec_sid:[^/.]+}.{ext:wav|mp3}", self._recording_media
        )
        app.router.add_route(
            "DELETE", API + "/Recordings/{rec_sid:[^/.]+}.json", self._delete_recording
        )
        app.router.add_route("*", "/{tail:.*}", self._not_found)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        self._runner = runner
        host, bound = runner.addresses[0][:2]
        self.base_url = f"http://{host}:{bound}"
        log.info("sim_rest_started", base_url=self.base_url)

    async def stop(self) -> None:
        for task in list(self._dialing):
            task.cancel()
        if self._dialing:
            await asyncio.gather(*self._dialing, return_exceptions=True)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> TwilioRestFake:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- test and simulator hooks ---------------------------------------------------------------

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

    def call_ended(self, call_sid: str, *, duration_s: float, status: str = "completed") -> None:
        """The call is over (the caller side saw it end); `status` is the final status Twilio
        gives it (completed, busy, failed, no-answer or canceled)."""
        if status in LIVE:
            raise ValueError(f"{status} is not a final call status")
        self._callbacks.pop(call_sid, None)
        call = self.calls.get(call_sid)
        if call is None:
            return
        now = datetime.now(UTC)
        if call.status in LIVE:
            call.status = status
        call.ended = call.ended or now
        call.updated = now
        for recording in self.call_recordings.get(call_sid, []):
            if recording.status in ("in-progress", "paused"):
                recording.status, recording.updated = "completed", now
        if call.duration_s is None:
            call.duration_s = round(duration_s)

    def add_recording(
        self, account_sid: str, recording_sid: str, data: bytes, content_type: str = "audio/wav"
    ) -> None:
        """Serve `data` as the recording's media (for both .wav and .mp3: no transcoding)."""
        self._recordings[(account_sid, recording_sid)] = (data, content_type)

    # -- plumbing -------------------------------------------------------------------------------

    @web.middleware
    async def _record(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        response = await handler(request)
        if request.method == "POST":
            form = await request.post()
            params = {k: str(v) for k, v in form.items()}
        else:
            params = dict(request.query)
        creds = basic_credentials(request.headers.get("Authorization", ""))
        self.requests.append(
            RestRequest(
                method=request.method,
                path=request.path,
                params=params,
                account_sid=creds[0] if creds else None,
                time=time.monotonic(),
                status=response.status,
            )
        )
        return response

    def _check_auth(self, request: web.Request) -> web.Response | None:
        """None when the Basic credentials may act on the path's account, else the error."""
        creds = basic_credentials(request.headers.get("Authorization", ""))
        if creds is None:
            return twilio_error(401, 20003, "Authenticate")
        login, password = creds
        if self._accounts is not None:
            token = self._accounts.get(login)
            if token is None or not hmac.compare_digest(token, password):
                return twilio_error(401, 20003, "Authenticate")
        if login != request.match_info["account_sid"] and not login.startswith("SK"):
            return self._not_found_response(request)
        return None

    @staticmethod
    def _not_found_response(request: web.Request) -> web.Response:
        return twilio_error(404, 20404, f"The requested resource {request.path} was not found")

    async def _not_found(self, request: web.Request) -> web.Response:
        return self._not_found_response(request)

    def _live_call(self, request: web.Request) -> FakeCall | None:
        call = self.calls.get(request.match_info["call_sid"])
        account = request.match_info["account_sid"]
        if call is None or (call.account_sid and call.account_sid != account):
            return None
        return call

    def _call_json(self, call: FakeCall) -> dict[str, Any]:
        uri = f"/2010-04-01/Accounts/{call.account_sid}/Calls/{call.sid}"
        return {
            "sid": call.sid,
            "date_created": _rfc2822(call.created),
            "date_updated": _rfc2822(call.updated),
            "parent_call_sid": None,
            "account_sid": call.account_sid,
            "to": call.to_number,
            "to_formatted": call.to_number,
            "from": call.from_number,
            "from_formatted": call.from_number,
            "phone_number_sid": None,
            "status": call.status,
            "start_time": _rfc2822(call.created),
            "end_time": _rfc2822(call.ended),
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

    # -- endpoints ------------------------------------------------------------------------------

    async def _fetch_call(self, request: web.Request) -> web.Response:
        if (denied := self._check_auth(request)) is not None:
            return denied
        call = self._live_call(request)
        if call is None:
            return self._not_found_response(request)
        return web.json_response(self._call_json(call))

    async def _create_call(self, request: web.Request) -> web.Response:
        """An outbound call: 201 with the call `queued`; the dialer places it."""
        if (denied := self._check_auth(request)) is not None:
            return denied
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

    def set_status(self, call_sid: str, status: str) -> None:
        """The simulated far end moved the call on (ringing, in-progress, or a final status)."""
        call = self.calls[call_sid]
        call.status, call.updated = status, datetime.now(UTC)
        if status not in LIVE:
            call.ended = call.ended or call.updated

    def _conference_json(self, room: FakeConference) -> dict[str, Any]:
        uri = f"/2010-04-01/Accounts/{room.account_sid}/Conferences/{room.sid}"
        return {
            "account_sid": room.account_sid,
            "api_version": "2010-04-01",
            "call_sid_ending_conference": room.ended_by,
            "date_created": _rfc2822(room.created),
            "date_updated": _rfc2822(room.updated),
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
        if (denied := self._check_auth(request)) is not None:
            return denied
        room = self.conferences.by_sid.get(request.match_info["conf_sid"])
        if room is None or room.account_sid != request.match_info["account_sid"]:
            return self._not_found_response(request)
        return web.json_response(self._conference_json(room))

    async def _update_call(self, request: web.Request) -> web.Response:
        if (denied := self._check_auth(request)) is not None:
            return denied
        call = self._live_call(request)
        if call is None:
            return self._not_found_response(request)
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

    # -- queues -----------------------------------------------------------------------------------

    def _queue_json(self, queue: FakeQueue) -> dict[str, Any]:
        uri = f"/2010-04-01/Accounts/{queue.account_sid}/Queues/{queue.sid}"
        return {
            "account_sid": queue.account_sid,
            "average_wait_time": queue.average_wait_s(),
            "current_size": len(queue.members),
            "date_created": _rfc2822(queue.created),
            "date_updated": _rfc2822(queue.updated),
            "friendly_name": queue.name,
            "max_size": queue.max_size,
            "sid": queue.sid,
            "uri": uri + ".json",
            "subresource_uris": {"members": f"{uri}/Members.json"},
        }

    def _member_json(self, queue: FakeQueue, member: Member) -> dict[str, Any]:
        return {
            "call_sid": member.call_sid,
            "date_enqueued": _rfc2822(member.joined_at),
            "position": queue.position(member.call_sid),
            "queue_sid": queue.sid,
            "uri": f"/2010-04-01/Accounts/{queue.account_sid}/Queues/{queue.sid}"
            f"/Members/{member.call_sid}.json",
            "wait_time": round(time.monotonic() - member.joined),
        }

    def _queue(self, request: web.Request) -> FakeQueue | None:
        queue = self.queues.by_sid.get(request.match_info["queue_sid"])
        if queue is None or queue.account_sid != request.match_info["account_sid"]:
            return None
        return queue

    @staticmethod
    def _page(request: web.Request, key: str, items: list[dict[str, Any]]) -> dict[str, Any]:
        """One page holding everything (the fake's lists are short)."""
        return {
            key: items,
            "end": max(len(items) - 1, 0),
            "first_page_uri": request.path + "?PageSize=50&Page=0",
            "next_page_uri": None,
            "page": 0,
            "page_size": 50,
            "previous_page_uri": None,
            "start": 0,
            "uri": request.path,
        }

    async def _list_queues(self, request: web.Request) -> web.Response:
        if (denied := self._check_auth(request)) is not None:
            return denied
        held = self.queues.of_account(request.match_info["account_sid"])
        return web.json_response(self._page(request, "queues", [self._queue_json(q) for q in held]))

    async def _fetch_queue(self, request: web.Request) -> web.Response:
        if (denied := self._check_auth(request)) is not None:
            return denied
        queue = self._queue(request)
        if queue is None:
            return self._not_found_response(request)
        return web.json_response(self._queue_json(queue))

    async def _list_members(self, request: web.Request) -> web.Response:
        if (denied := self._check_auth(request)) is not None:
            return denied
        queue = self._queue(request)
        if queue is None:
            return self._not_found_response(request)
        listed = [self._member_json(queue, m) for m in queue.members.values()]
        return web.json_response(self._page(request, "queue_members", listed))

    @staticmethod
    def _member(queue: FakeQueue, call_sid: str) -> Member | None:
        """The member `call_sid` (or "Front": the oldest) still holding in the queue."""
        if call_sid == "Front":
            return next((m for m in queue.members.values() if not m.dequeued.is_set()), None)
        member = queue.members.get(call_sid)
        return None if member is None or member.dequeued.is_set() else member

    async def _fetch_member(self, request: web.Request) -> web.Response:
        if (denied := self._check_auth(request)) is not None:
            return denied
        queue = self._queue(request)
        member = self._member(queue, request.match_info["call_sid"]) if queue else None
        if queue is None or member is None:
            return self._not_found_response(request)
        return web.json_response(self._member_json(queue, member))

    async def _dequeue_member(self, request: web.Request) -> web.Response:
        """Dequeue a member onto `Url` (the TwiML its call runs next): 200 with the member as
        it was; 404 when the call is not in the queue (it hung up or left)."""
        if (denied := self._check_auth(request)) is not None:
            return denied
        queue = self._queue(request)
        if queue is None:
            return self._not_found_response(request)
        form = await request.post()
        url, method = str(form.get("Url", "")), str(form.get("Method", "POST")).upper()
        if not url.startswith(("http://", "https://")):
            return twilio_error(400, 21205, "Url parameter is required.")
        if method not in ("GET", "POST"):
            return twilio_error(400, 21207, f"Invalid Method: {method}")
        before = self._member(queue, request.match_info["call_sid"])
        if before is None:
            return self._not_found_response(request)
        body = self._member_json(queue, before)
        if self.queues.dequeue(queue, before.call_sid, url, method) is None:
            return self._not_found_response(request)
        log.info("sim_rest_member_dequeued", call_sid=before.call_sid, queue_sid=queue.sid)
        return web.json_response(body)

    def _recording_json(self, recording: FakeRecording) -> dict[str, Any]:
        return {
            "account_sid": recording.account_sid,
            "api_version": "2010-04-01",
            "call_sid": recording.call_sid,
            "conference_sid": None,
            "date_created": _rfc2822(recording.created),
            "date_updated": _rfc2822(recording.updated),
            "start_time": _rfc2822(recording.created),
            "duration": None,
            "sid": recording.sid,
            "price": None,
            "price_unit": "USD",
            "status": recording.status,
            "channels": int(recording.params.get("RecordingChannels") == "dual") + 1,
            "source": "StartCallRecordingAPI",
            "error_code": None,
            "track": recording.params.get("RecordingTrack", "both"),
            "encryption_details": None,
            "uri": f"/2010-04-01/Accounts/{recording.account_sid}/Calls/{recording.call_sid}"
            f"/Recordings/{recording.sid}.json",
        }

    async def _create_call_recording(self, request: web.Request) -> web.Response:
        if (denied := self._check_auth(request)) is not None:
            return denied
        call = self._live_call(request)
        if call is None:
            return self._not_found_response(request)
        if call.status != "in-progress":
            return twilio_error(400, 21220, "Call is not in-progress. Cannot start recording.")
        form = await request.post()
        params = {k: str(v) for k, v in form.items()}
        channels = params.get("RecordingChannels", "mono")
        if channels not in ("mono", "dual"):
            return twilio_error(400, 21626, f"Invalid RecordingChannels: {channels}")
        recording = FakeRecording(
            "RE" + secrets.token_hex(16), call.sid, request.match_info["account_sid"], params=params
        )
        self.call_recordings.setdefault(call.sid, []).append(recording)
        return web.json_response(self._recording_json(recording), status=201)

    async def _update_call_recording(self, request: web.Request) -> web.Response:
        if (denied := self._check_auth(request)) is not None:
            return denied
        call = self._live_call(request)
        if call is None:
            return self._not_found_response(request)
        wanted = request.match_info["rec_sid"]
        recordings = self.call_recordings.get(call.sid, [])
        if wanted == "Twilio.CURRENT":  # the call's recording in progress (or paused)
            live = [r for r in recordings if r.status in ("in-progress", "paused")]
            recording = live[-1] if live else None
        else:
            recording = next((r for r in recordings if r.sid == wanted), None)
        if recording is None:
            return self._not_found_response(request)
        form = await request.post()
        status = str(form.get("Status", ""))
        if status not in ("stopped", "paused", "in-progress"):
            return twilio_error(400, 21220, f"Invalid Status: {status or '(missing)'}")
        if recording.status in ("stopped", "completed"):
            return twilio_error(400, 21220, "The recording has already stopped")
        recording.status, recording.updated = status, datetime.now(UTC)
        return web.json_response(self._recording_json(recording))

    async def _create_message(self, request: web.Request) -> web.Response:
        if (denied := self._check_auth(request)) is not None:
            return denied
        if time.monotonic() < self.messages_down_until:
            return twilio_error(503, 20500, "Service unavailable")
        form = await request.post()
        to, from_ = str(form.get("To", "")), str(form.get("From", ""))
        service = str(form.get("MessagingServiceSid", ""))
        body = str(form.get("Body", ""))
        if not to:
            return twilio_error(400, 21604, "A 'To' phone number is required.")
        if not from_ and not service:
            return twilio_error(400, 21603, "A 'From' phone number is required.")
        if not body and "MediaUrl" not in form:
            return twilio_error(400, 21602, "Message body is required.")
        if to in self.opted_out:
            return twilio_error(400, 21610, "Attempt to send to unsubscribed recipient")
        account = request.match_info["account_sid"]
        sid = "SM" + secrets.token_hex(16)
        now = _rfc2822(datetime.now(UTC))
        uri = f"/2010-04-01/Accounts/{account}/Messages/{sid}"
        message = {
            "account_sid": account,
            "api_version": "2010-04-01",
            "body": body,
            "date_created": now,
            "date_sent": None,
            "date_updated": now,
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": from_ or None,
            "messaging_service_sid": service or None,
            "num_media": "0",
            "num_segments": "1",
            "price": None,
            "price_unit": "USD",
            "sid": sid,
            "status": "queued" if from_ else "accepted",
            "subresource_uris": {"media": uri + "/Media.json"},
            "to": to,
            "uri": uri + ".json",
        }
        self.messages.append(message)
        log.info("sim_rest_message_created", message_sid=sid, pii_to=to)
        if self.slow_messages > 0:  # the message exists; the sender may give up on the answer
            self.slow_messages -= 1
            await asyncio.sleep(2.0)
        return web.json_response(message, status=201)

    async def _list_messages(self, request: web.Request) -> web.Response:
        if (denied := self._check_auth(request)) is not None:
            return denied
        account = request.match_info["account_sid"]
        query = request.query
        found = [
            m
            for m in self.messages
            if m["account_sid"] == account
            and m["to"] == query.get("To", m["to"])
            and m["from"] == query.get("From", m["from"])
        ]
        # DateSent> is a day (YYYY-MM-DD); every message the fake holds is from today.
        uri = f"/2010-04-01/Accounts/{account}/Messages.json"
        page = {
            "messages": list(reversed(found)),  # newest first, as Twilio lists them
            "end": max(len(found) - 1, 0),
            "first_page_uri": uri + "?PageSize=50&Page=0",
            "next_page_uri": None,
            "page": 0,
            "page_size": 50,
            "previous_page_uri": None,
            "start": 0,
            "uri": uri,
        }
        return web.json_response(page)

    async def _delete_recording(self, request: web.Request) -> web.Response:
        """DELETE a recording: 204, its media gone; 404 for one the account does not have."""
        if (denied := self._check_auth(request)) is not None:
            return denied
        account, sid = request.match_info["account_sid"], request.match_info["rec_sid"]
        media = self._recordings.pop((account, sid), None)
        started = [
            (call, r)
            for call, held in self.call_recordings.items()
            for r in held
            if r.sid == sid and r.account_sid == account
        ]
        if media is None and not started:
            return self._not_found_response(request)
        for call, recording in started:
            self.call_recordings[call].remove(recording)
        self.deleted_recordings.append(sid)
        return web.Response(status=204)

    async def _recording_media(self, request: web.Request) -> web.Response:
        if (denied := self._check_auth(request)) is not None:
            return denied
        key = (request.match_info["account_sid"], request.match_info["rec_sid"])
        found = self._recordings.get(key)
        if found is None:
            return self._not_found_response(request)
        data, content_type = found
        return web.Response(body=data, content_type=content_type)


def basic_credentials(header: str) -> tuple[str, str] | None:
    """(username, password) of an HTTP Basic Authorization header, None when absent or bad."""
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("latin-1")
    except (binascii.Error, ValueError):
        return None
    login, sep, password = decoded.partition(":")
    return (login, password) if sep else None
