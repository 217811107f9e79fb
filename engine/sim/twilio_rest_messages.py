"""Messages of the Twilio REST fake (engine.sim.twilio_rest).

Endpoints (I/O through the fake's aiohttp server): message create and list
`.../Messages.json` (list filters `To`, `From`, `DateSent>`; one page); numbers that said STOP
are refused with error 21610 as Twilio's opt-out handling does. Tests can make sends fail
(503 until a time) or answer late (accepted, answered after 2 s).
"""

from __future__ import annotations

import asyncio
import secrets
import time
from datetime import UTC, datetime
from typing import Any

import structlog
from aiohttp import web

from engine.sim.twilio_rest_wire import API, RestBase, page, rfc2822, twilio_error

log = structlog.get_logger(__name__)


class MessagesApi(RestBase):
    """Message endpoints over the messages sent so far (oldest first)."""

    messages: list[dict[str, Any]]
    opted_out: set[str]  # numbers that replied STOP: sends fail with 21610
    messages_down_until: float  # time.monotonic() before which sends answer 503
    slow_messages: int  # the next N sends are accepted but answered only after 2 s

    def _message_routes(self) -> list[web.RouteDef]:
        return [
            web.route("POST", API + "/Messages.json", self._create_message),
            web.route("GET", API + "/Messages.json", self._list_messages),
        ]

    async def _create_message(self, request: web.Request) -> web.Response:
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
        now = rfc2822(datetime.now(UTC))
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
        # Newest first, as Twilio lists them.
        return web.json_response(page(request, "messages", list(reversed(found))))
