"""Draining the outbox: claim due deliveries, send each to its destination, settle it.
I/O: Postgres (memory.outbox) and the destinations, through the senders it is given; never on
the call path - memory actors run it in the background (actors.memory_actor).

A drain claims only its engine's queue (memory.outbox): what another engine wrote, with
secrets sealed under another key, is never claimed here. A sealed secret of our own queue that
does not open with our key is a configuration fault (the engine secret changed): the delivery
is dead-lettered with that reason and an error is logged, never silently.

A delivery whose attempt failed in a way worth retrying goes back with its own backoff
(doubling from `backoff_s`, capped, with jitter; at least what the destination's Retry-After
asked), so a destination that is down slows only its own rows. Past `max_attempts`, or on an
answer retrying cannot fix, it is dead-lettered. A drain that dies mid-attempt leaves its lease
to expire; the next claim sends again with the same idempotency key, so the receiver's effect
is once.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import asyncpg
import structlog

from engine.caller_texts import caller_text
from engine.errors import status_retryable
from engine.notion_client import NotionClient, NotionError
from engine.notion_pages import page_writes
from engine.secret_box import NOTION_LABEL, TWILIO_LABEL, WEBHOOK_LABEL, SecretBox, SecretBoxError
from engine.sms_sender import SmsAccount, send_sms
from engine.staff_texts import reference, staff_text
from engine.task_set import TaskSet
from engine.webhook_sender import WebhookSender
from memory import notion_links, outbox
from memory.outbox import AttemptResult, Delivery, DeliveryClaim
from memory.tenants import open_token

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class OutboxPolicy:
    batch: int = 16
    lease_s: int = 60
    max_attempts: int = 12
    backoff_s: float = 2.0
    max_backoff_s: float = 600.0
    timeout_s: float = 10.0


@dataclass(frozen=True, slots=True)
class TwilioDefaults:
    """The platform's Twilio account, for tenants that bring none of their own."""

    api_base_url: str = "https://api.twilio.com"
    account_sid: str | None = None
    auth_token: str | None = field(default=None, repr=False)


def backoff_s(attempts: int, policy: OutboxPolicy, asked_s: float | None = None) -> float:
    """Delay before attempt ``attempts + 1``: doubling, capped, jittered, never below what the
    destination asked for."""
    delay = min(policy.backoff_s * 2.0 ** max(0, attempts - 1), policy.max_backoff_s)
    delay *= random.uniform(0.8, 1.2)
    return max(delay, asked_s or 0.0)


class OutboxDrain:
    def __init__(
        self,
        pool: asyncpg.Pool,
        engine_secret: str,
        queue: str,
        policy: OutboxPolicy,
        webhooks: WebhookSender,
        twilio: TwilioDefaults | None = None,
        notion: NotionClient | None = None,
        transcript_url: str = "{call_sid}",
        on_slot_free: Callable[[], None] | None = None,
    ) -> None:
        self.pool = pool
        self.queue = queue
        # Deliveries run as tasks, at most policy.batch at once: a slow destination holds
        # only its own slots, never the others' deliveries.
        self._deliveries = TaskSet("outbox_delivery", log, on_done=on_slot_free)
        self._twilio = twilio or TwilioDefaults()
        self._notion = notion or NotionClient()
        self._notion_tokens = SecretBox(engine_secret, NOTION_LABEL)
        self._twilio_tokens = SecretBox(engine_secret, TWILIO_LABEL)
        self._transcript_url = transcript_url
        # One Notion sync per tenant at a time in this process: two events about one caller
        # synced at once would both find no caller page and both create one.
        self._notion_locks: dict[str, asyncio.Lock] = {}
        self.policy = policy
        self._webhooks = webhooks
        self._secrets = SecretBox(engine_secret, WEBHOOK_LABEL)

    async def aclose(self) -> None:
        """Stop: deliveries in flight are cancelled (their leases expire and another drain
        sends them again, with the same idempotency key)."""
        await self._deliveries.close(timeout=self.policy.timeout_s)
        await self._webhooks.aclose()
        await self._notion.aclose()

    async def run_once(self) -> int:
        """Claim due deliveries for the free slots and start them; how many were claimed.
        Database errors while claiming are raised; everything after the claim is settled in
        its task, never raised."""
        policy = self.policy
        free = policy.batch - len(self._deliveries)
        if free <= 0:
            return 0
        claims = await outbox.claim(
            self.pool, self.queue, free, lease_s=policy.lease_s, max_attempts=policy.max_attempts
        )
        for job in claims:
            self._deliveries.spawn(self._deliver(job))
        return len(claims)

    async def run_until_idle(self, limit: int = 1000) -> int:
        """Deliver what is due now and wait for it (operators, tests); how many were claimed."""
        claimed = 0
        while claimed < limit:
            started = await self.run_once()
            claimed += started
            if self._deliveries:
                await self._deliveries.wait_first()
            elif not started:
                break
        return claimed

    async def _deliver(self, job: DeliveryClaim) -> None:
        try:
            delivery = await outbox.leased(self.pool, job)
            if delivery is None:
                return
            result = await self._send(job, delivery)
            delay = backoff_s(job.attempts, self.policy, result.retry_after_s)
            status = await outbox.settle(
                self.pool, job, result, retry_in_s=delay, max_attempts=self.policy.max_attempts
            )
        except Exception as exc:  # the lease expires and the delivery is claimed again
            log.warning("outbox_settle_failed", delivery_id=job.delivery_id, error=repr(exc))
            return
        log.info(
            "outbox_attempt",
            tenant_id=job.tenant_id,
            delivery_id=job.delivery_id,
            event_type=delivery.event_type,
            attempt=job.attempts,
            status=status,
            code=result.status_code,
            lag_ms=round((time.time() - delivery.created_at.timestamp()) * 1000, 1),
        )

    async def _send(self, job: DeliveryClaim, delivery: Delivery) -> AttemptResult:
        started = time.perf_counter()
        kind, _, _ = delivery.destination.partition(":")
        if kind in ("sms", "confirm"):
            return await self._text(delivery, job.attempts, started)
        if kind == "notion":
            return await self._sync_notion(job, delivery, started)
        if kind != "webhook":
            return AttemptResult(False, False, 0.0, error=f"unknown destination {kind!r}")
        if delivery.url is None or delivery.secret_box is None:
            return AttemptResult(False, False, 0.0, error="the endpoint was deleted")
        try:
            secret = self._secrets.open(delivery.secret_box)
        except SecretBoxError as exc:
            return self._unopenable(job, "webhook signing secret", exc)
        code, error, asked = await self._webhooks.post(
            delivery.url, secret, delivery.event_id, delivery.event_type, delivery.body
        )
        elapsed = (time.perf_counter() - started) * 1000
        if error is None:
            return AttemptResult(True, False, elapsed, status_code=code)
        retryable = code is None or status_retryable(code)
        return AttemptResult(False, retryable, elapsed, code, error, asked)

    async def _text(self, delivery: Delivery, attempt: int, started: float) -> AttemptResult:
        to = delivery.destination.partition(":")[2]
        if delivery.opted_out:
            return AttemptResult(False, False, 0.0, error="the recipient opted out (STOP)")
        account_sid = delivery.twilio_account_sid or self._twilio.account_sid
        token = open_token(delivery.twilio_auth_token_box, self._twilio_tokens)
        token = token or self._twilio.auth_token
        if not (account_sid and token and delivery.from_number):
            return AttemptResult(
                False, False, 0.0, error="no Twilio account or number to text from"
            )
        data = json.loads(delivery.body).get("data", {})
        if delivery.destination.startswith("confirm:"):  # the caller who asked for it
            body = caller_text(delivery.tenant_name, data, delivery.event_id)
        else:
            body = staff_text(delivery.event_type, data, delivery.event_id)
        outcome = await send_sms(
            SmsAccount(account_sid, token, self._twilio.api_base_url),
            delivery.from_number,
            to,
            body,
            ref=reference(delivery.event_id),
            check_first=attempt > 1,
            timeout_s=self.policy.timeout_s,
        )
        return AttemptResult(
            delivered=outcome.sent,
            retryable=outcome.retryable,
            duration_ms=(time.perf_counter() - started) * 1000,
            status_code=outcome.status_code,
            error=outcome.error,
            opted_out=to if outcome.opted_out else None,
        )

    def _unopenable(self, job: DeliveryClaim, what: str, exc: SecretBoxError) -> AttemptResult:
        """A secret on our own queue sealed under another key: retrying cannot open it, so the
        delivery is dead-lettered, saying why, and an operator is told."""
        log.error(
            "outbox_secret_unopenable",
            tenant_id=job.tenant_id,
            delivery_id=job.delivery_id,
            queue=self.queue,
            secret=what,
            error=str(exc),
        )
        return AttemptResult(
            False,
            False,
            0.0,
            error=f"the {what} was sealed under another engine secret than this engine's "
            f"(outbox queue {self.queue}); save it again, then replay",
        )

    async def _sync_notion(
        self, job: DeliveryClaim, delivery: Delivery, started: float
    ) -> AttemptResult:
        """Create or update the event's pages, caller first; each page's id is remembered as
        soon as it exists, so a retry after a partial sync redoes only what is missing."""
        tenant = job.tenant_id
        link = await notion_links.get_link(self.pool, tenant)
        if link is None or not link.enabled:
            return AttemptResult(False, False, 0.0, error="Notion is not linked")
        try:
            token = self._notion_tokens.open(link.token_box)
        except SecretBoxError as exc:
            return self._unopenable(job, "Notion token", exc)
        event = json.loads(delivery.body)
        writes = page_writes(delivery.event_type, event.get("data", {}), self._transcript_url)
        lock = self._notion_locks.setdefault(tenant, asyncio.Lock())
        try:
            async with lock:
                for write in writes:
                    known = await notion_links.page_id(self.pool, tenant, write.kind, write.key)
                    database = link.database(write.kind)
                    page = await self._notion.upsert(token, database, write, known)
                    if page != known:
                        await notion_links.remember_page(
                            self.pool, tenant, write.kind, write.key, page
                        )
        except NotionError as exc:
            elapsed = (time.perf_counter() - started) * 1000
            return AttemptResult(False, exc.retryable, elapsed, exc.status, str(exc))
        return AttemptResult(True, False, (time.perf_counter() - started) * 1000, status_code=200)
