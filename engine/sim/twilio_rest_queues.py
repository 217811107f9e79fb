"""Queues of the Twilio REST fake (engine.sim.twilio_rest).

Endpoints (I/O through the fake's aiohttp server): `GET .../Queues.json`,
`.../Queues/{QueueSid}.json`, their members `.../Members.json` and
`.../Members/{CallSid|Front}.json`, and a member's dequeue `POST .../Members/{CallSid|Front}.json`
(`Url` required, error 21205; 404 when the call is not in the queue). The queues themselves,
which `<Enqueue>` makes, are engine.sim.twilio_queues'.
"""

from __future__ import annotations

import time
from typing import Any

import structlog
from aiohttp import web

from engine.sim.twilio_queues import FakeQueue, Member, Queues
from engine.sim.twilio_rest_wire import API, RestBase, not_found, page, rfc2822, twilio_error

log = structlog.get_logger(__name__)


class QueuesApi(RestBase):
    """Queue and queue-member endpoints over the fake's `queues`."""

    queues: Queues

    def _queue_routes(self) -> list[web.RouteDef]:
        members = API + "/Queues/{queue_sid}/Members/{call_sid}.json"
        return [
            web.route("GET", API + "/Queues.json", self._list_queues),
            web.route("GET", API + "/Queues/{queue_sid}.json", self._fetch_queue),
            web.route("GET", API + "/Queues/{queue_sid}/Members.json", self._list_members),
            web.route("GET", members, self._fetch_member),
            web.route("POST", members, self._dequeue_member),
        ]

    def _queue_json(self, queue: FakeQueue) -> dict[str, Any]:
        uri = f"/2010-04-01/Accounts/{queue.account_sid}/Queues/{queue.sid}"
        return {
            "account_sid": queue.account_sid,
            "average_wait_time": queue.average_wait_s(),
            "current_size": len(queue.members),
            "date_created": rfc2822(queue.created),
            "date_updated": rfc2822(queue.updated),
            "friendly_name": queue.name,
            "max_size": queue.max_size,
            "sid": queue.sid,
            "uri": uri + ".json",
            "subresource_uris": {"members": f"{uri}/Members.json"},
        }

    def _member_json(self, queue: FakeQueue, member: Member) -> dict[str, Any]:
        return {
            "call_sid": member.call_sid,
            "date_enqueued": rfc2822(member.joined_at),
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

    async def _list_queues(self, request: web.Request) -> web.Response:
        held = self.queues.of_account(request.match_info["account_sid"])
        return web.json_response(page(request, "queues", [self._queue_json(q) for q in held]))

    async def _fetch_queue(self, request: web.Request) -> web.Response:
        queue = self._queue(request)
        if queue is None:
            return not_found(request)
        return web.json_response(self._queue_json(queue))

    async def _list_members(self, request: web.Request) -> web.Response:
        queue = self._queue(request)
        if queue is None:
            return not_found(request)
        listed = [self._member_json(queue, m) for m in queue.members.values()]
        return web.json_response(page(request, "queue_members", listed))

    @staticmethod
    def _member(queue: FakeQueue, call_sid: str) -> Member | None:
        """The member `call_sid` (or "Front": the oldest) still holding in the queue."""
        if call_sid == "Front":
            return next((m for m in queue.members.values() if not m.dequeued.is_set()), None)
        member = queue.members.get(call_sid)
        return None if member is None or member.dequeued.is_set() else member

    async def _fetch_member(self, request: web.Request) -> web.Response:
        queue = self._queue(request)
        member = self._member(queue, request.match_info["call_sid"]) if queue else None
        if queue is None or member is None:
            return not_found(request)
        return web.json_response(self._member_json(queue, member))

    async def _dequeue_member(self, request: web.Request) -> web.Response:
        """Dequeue a member onto `Url` (the TwiML its call runs next): 200 with the member as
        it was; 404 when the call is not in the queue (it hung up or left)."""
        queue = self._queue(request)
        if queue is None:
            return not_found(request)
        form = await request.post()
        url, method = str(form.get("Url", "")), str(form.get("Method", "POST")).upper()
        if not url.startswith(("http://", "https://")):
            return twilio_error(400, 21205, "Url parameter is required.")
        if method not in ("GET", "POST"):
            return twilio_error(400, 21207, f"Invalid Method: {method}")
        before = self._member(queue, request.match_info["call_sid"])
        if before is None:
            return not_found(request)
        body = self._member_json(queue, before)
        if self.queues.dequeue(queue, before.call_sid, url, method) is None:
            return not_found(request)
        log.info("sim_rest_member_dequeued", call_sid=before.call_sid, queue_sid=queue.sid)
        return web.json_response(body)
