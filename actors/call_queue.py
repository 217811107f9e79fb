"""A tenant's callers holding in Twilio's queue (engine.overflow "queue"), and taking them off
it as the node gets room. Owned by the tenant actor.

Twilio tells the engine who waits: each caller's wait URL is requested when they enter the
queue and again each time its TwiML ends (admin_api.queue_webhooks), and the tenant actor
notes them here (`waiting`). While anyone waits, once a second the call pool says how many
more calls the node admits now (`room`); that many of the oldest callers (less those dequeued
and not yet admitted) are dequeued through Twilio's REST API (Queue Members update: the call
leaves the queue and runs the TwiML of `/twilio/voice`, which admits it like a new call). A
caller dequeued into a node that filled up again meanwhile is queued again, keeping the time
they entered first (`since`), so the max wait counts from then.

A caller who hangs up or leaves the queue is forgotten (`gone`, from the `<Enqueue action>` or
the call's final status); a dequeue Twilio answers 404 for (the caller left meanwhile) is
skipped. I/O: the REST requests (actors.twilio_rest). State it owns: who waits (CallSid ->
QueueSid and since, oldest first), who was dequeued and not yet admitted, its one task.
When its tenant actor dies the list is lost: callers then wait until their max wait passes
or their next wait-URL request (about every 10 s) adds them again.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import quote

import structlog

from actors import twilio_rest
from actors.twilio_rest import TwilioAccount
from engine.task_set import TaskSet

QUEUE_POLL_S = 1.0
ADMIT_WINDOW_S = 10.0  # a dequeued caller not admitted by then no longer holds a place


@dataclass(frozen=True, slots=True)
class Waiting:
    queue_sid: str
    since: int  # epoch seconds the caller first entered the queue


class CallQueue:
    def __init__(
        self,
        *,
        tenant_id: str,
        public_base_url: str,
        room: Callable[[], Awaitable[int]],
        account: Callable[[], Awaitable[TwilioAccount | None]],
        log: structlog.typing.FilteringBoundLogger,
        poll_s: float = QUEUE_POLL_S,
    ) -> None:
        self._tenant_id = tenant_id
        self._base = public_base_url.rstrip("/")
        self._room = room
        self._account = account
        self._log = log
        self._poll_s = poll_s
        self._waiting: dict[str, Waiting] = {}
        self._dequeued: dict[str, float] = {}  # CallSid -> monotonic deadline to be admitted
        self._tasks = TaskSet("call-queue", log)
        self._task: asyncio.Task[None] | None = None

    def __len__(self) -> int:
        return len(self._waiting)

    def waiting(self, call_sid: str, queue_sid: str, since: int) -> None:
        """Twilio asked for `call_sid`'s wait TwiML: it holds in `queue_sid` (kept in order)."""
        if call_sid in self._dequeued:
            return  # Twilio's request crossed our dequeue
        if call_sid not in self._waiting:
            self._waiting[call_sid] = Waiting(queue_sid, since)
            self._log.info("call_queued", call_sid=call_sid, waiting=len(self._waiting))
        if self._task is None or self._task.done():
            self._task = self._tasks.spawn(self._run())

    def gone(self, call_sid: str) -> None:
        """The caller left the queue (hung up, gave up, was admitted): forget them."""
        self._waiting.pop(call_sid, None)
        self._dequeued.pop(call_sid, None)

    def dequeue_url(self, since: int) -> str:
        return f"{self._base}/twilio/voice?tenant={quote(self._tenant_id)}&since={since}"

    async def _run(self) -> None:
        while self._waiting:
            await asyncio.sleep(self._poll_s)
            try:
                await self._dequeue_some()
            except Exception as exc:  # the next tick tries again
                self._log.error("call_queue_step_failed", error=repr(exc))

    async def _dequeue_some(self) -> None:
        now = time.monotonic()
        for sid in [s for s, deadline in self._dequeued.items() if deadline < now]:
            self._dequeued.pop(sid, None)
        free = await self._room() - len(self._dequeued)
        if free <= 0 or not self._waiting:
            return
        account = await self._account()
        if account is None:
            self._log.error("call_queue_no_account", waiting=len(self._waiting))
            return
        for call_sid in list(self._waiting)[:free]:
            held = self._waiting.pop(call_sid)
            self._dequeued[call_sid] = time.monotonic() + ADMIT_WINDOW_S
            url = self.dequeue_url(held.since)
            try:
                there = await twilio_rest.dequeue(account, held.queue_sid, call_sid, url)
            except Exception:
                self._dequeued.pop(call_sid, None)
                self._waiting[call_sid] = held  # tried again on a later tick
                raise
            if not there:
                self._dequeued.pop(call_sid, None)
                self._log.info("call_queue_member_gone", call_sid=call_sid)
                continue
            self._log.info(
                "call_dequeued", call_sid=call_sid, waited_s=int(time.time()) - held.since
            )

    async def close(self) -> None:
        await self._tasks.close()
