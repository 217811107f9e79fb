"""A fake of the Twilio REST API (2010-04-01) for calls, messages and recording media.

I/O: an aiohttp.web server on 127.0.0.1 (port 0 by default). Paths, form fields and JSON shapes
follow the twilio SDK (twilio/rest/api/v2010/...). The endpoints come in groups, one module
each: calls, outbound calls and conferences (engine.sim.twilio_rest_calls), queues and their
members (engine.sim.twilio_rest_queues), recordings (engine.sim.twilio_rest_recordings) and
messages (engine.sim.twilio_rest_messages); what they share (Basic auth, error JSON, list pages)
is engine.sim.twilio_rest_wire. Errors use Twilio's legacy error JSON (`code`, `message`,
`more_info`, `status`), which the SDK turns into `TwilioRestException`.

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
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import structlog
from aiohttp import web

from engine.sim.http_server import LoopbackServer
from engine.sim.twilio_conference import Conferences
from engine.sim.twilio_queues import Queues
from engine.sim.twilio_rest_calls import CallsApi, CallUpdateCallback, Dialer
from engine.sim.twilio_rest_messages import MessagesApi
from engine.sim.twilio_rest_queues import QueuesApi
from engine.sim.twilio_rest_recordings import FakeRecording, RecordingsApi
from engine.sim.twilio_rest_wire import (
    LIVE,
    FakeCall,
    RestRequest,
    basic_credentials,
    check_auth,
    not_found,
)

log = structlog.get_logger(__name__)


class TwilioRestFake(CallsApi, QueuesApi, RecordingsApi, MessagesApi):
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
        self._server: LoopbackServer | None = None

    # -- lifecycle ------------------------------------------------------------------------------

    async def start(self, port: int = 0) -> None:
        app = web.Application(middlewares=[self._record, self._authenticate])
        app.add_routes(
            [
                *self._call_routes(),
                *self._queue_routes(),
                *self._recording_routes(),
                *self._message_routes(),
                web.route("*", "/{tail:.*}", self._not_found),
            ]
        )
        self._server = LoopbackServer(app, port=port)
        self.base_url = await self._server.start()
        log.info("sim_rest_started", base_url=self.base_url)

    async def stop(self) -> None:
        for task in list(self._dialing):
            task.cancel()
        if self._dialing:
            await asyncio.gather(*self._dialing, return_exceptions=True)
        if self._server is not None:
            await self._server.stop()
            self._server = None

    async def __aenter__(self) -> TwilioRestFake:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- test and simulator hooks ---------------------------------------------------------------

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

    @web.middleware
    async def _authenticate(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        """Every path under an account needs Basic credentials that may act on that account."""
        if "account_sid" in request.match_info:
            denied = check_auth(request, self._accounts)
            if denied is not None:
                return denied
        return await handler(request)

    async def _not_found(self, request: web.Request) -> web.Response:
        return not_found(request)
