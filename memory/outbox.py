"""The outbox: events for the agency's systems, written with the change they report, then
claimed, delivered and settled by the drain (memory.outbox_drain). I/O: asyncpg.

`emit` runs on the caller's connection, inside the transaction that makes the change, and fans
the event out to every destination the tenant has configured for it - one row each. The event
id is a UUIDv5 of (tenant, type, natural key), so the same event emitted twice (a retried
write, a replayed callback) adds nothing. Every row goes to the writing engine's queue (0022:
engines sharing the database with different secrets never claim each other's rows). Claims
lease rows of one queue across tenants (claim_outbox, SECURITY DEFINER, see 0007 and 0022);
everything after the claim runs in the row's tenant transaction and only while the lease is
ours, so an attempt is settled once even when two drains raced after a lease expired.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, get_args

import asyncpg

from memory.db import ACQUIRE_TIMEOUT_S, Conn, tenant_tx

EventType = Literal[
    "call.started",
    "call.ended",
    "call.analyzed",
    "message.taken",
    "transfer.completed",
    "transfer.failed",
]
EVENT_TYPES: tuple[str, ...] = get_args(EventType)
_NAMESPACE = uuid.UUID("5b0c7c53-6f1e-4d36-9c55-8f2a1f4d0e21")

_FAN_OUT = """
INSERT INTO outbox (tenant_id, event_id, event_type, destination, payload, queue)
SELECT $1::uuid, $2::uuid, $3::text, 'webhook:' || e.endpoint_id, $4::jsonb, $5::text
FROM webhook_endpoints e
WHERE e.tenant_id = $1 AND e.enabled AND (cardinality(e.events) = 0 OR $3 = ANY (e.events))
UNION ALL
SELECT $1::uuid, $2::uuid, $3::text, 'sms:' || s.number, $4::jsonb, $5::text
FROM staff_sms s
WHERE s.tenant_id = $1 AND $3 = ANY (s.events)
  AND NOT EXISTS (SELECT 1 FROM sms_opt_outs x WHERE x.tenant_id = $1 AND x.number = s.number)
UNION ALL
SELECT $1::uuid, $2::uuid, $3::text, 'notion', $4::jsonb, $5::text
FROM notion_links n
WHERE n.tenant_id = $1 AND n.enabled AND $3 IN ('call.ended', 'call.analyzed', 'message.taken')
UNION ALL
SELECT $1::uuid, $2::uuid, $3::text, 'confirm:' || $6::text, $4::jsonb, $5::text
WHERE $6::text IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM sms_opt_outs x WHERE x.tenant_id = $1 AND x.number = $6)
ON CONFLICT (tenant_id, event_id, destination) DO NOTHING
"""
_CLAIM = "SELECT tenant_id, delivery_id, attempts, lease_id FROM claim_outbox($1, $2, $3, $4)"
_LEASED = """
SELECT o.event_id, o.event_type, o.destination, o.payload::text AS payload, o.created_at,
       e.url, e.secret_box,
       EXISTS (SELECT 1 FROM sms_opt_outs x
               WHERE x.tenant_id = o.tenant_id
                 AND o.destination IN ('sms:' || x.number, 'confirm:' || x.number))
           AS opted_out,
       t.name AS tenant_name, t.twilio_account_sid, t.twilio_auth_token_box,
       (SELECT min(p.e164) FROM phone_numbers p WHERE p.tenant_id = o.tenant_id) AS from_number
FROM outbox o
JOIN tenants t ON t.tenant_id = o.tenant_id
LEFT JOIN webhook_endpoints e
       ON e.tenant_id = o.tenant_id AND o.destination = 'webhook:' || e.endpoint_id
WHERE o.tenant_id = $1 AND o.delivery_id = $2 AND o.lease_id = $3 AND o.status = 'running'
"""
_LOG_ATTEMPT = """
INSERT INTO outbox_attempts (tenant_id, delivery_id, duration_ms, status_code, error)
VALUES ($1, $2, $3, $4, $5)
"""
_SETTLE = """
UPDATE outbox SET
    status = CASE WHEN $4 THEN 'delivered'
                  WHEN $5 OR attempts >= $6 THEN 'dead' ELSE 'pending' END,
    delivered_at = CASE WHEN $4 THEN now() END,
    run_after = CASE WHEN $4 THEN run_after ELSE now() + make_interval(secs => $7) END,
    last_status = $8, last_error = $9, lease_id = NULL, locked_until = NULL
WHERE tenant_id = $1 AND delivery_id = $2 AND lease_id = $3
RETURNING status
"""
_OPT_OUT = """
INSERT INTO sms_opt_outs (tenant_id, number) VALUES ($1, $2) ON CONFLICT DO NOTHING
"""


@dataclass(frozen=True, slots=True)
class DeliveryClaim:
    tenant_id: str
    delivery_id: str
    attempts: int
    lease_id: str


@dataclass(frozen=True, slots=True)
class Delivery:
    """A leased delivery with what its destination needs. ``url``/``secret_box`` are those of
    a webhook endpoint (None when it has been deleted since); the Twilio account, sending
    number and the recipient's opt-out are for texts."""

    event_id: str
    event_type: str
    destination: str
    body: bytes = field(repr=False)
    created_at: datetime
    url: str | None = field(repr=False)
    secret_box: bytes | None = field(repr=False)
    opted_out: bool = False
    twilio_account_sid: str | None = None
    twilio_auth_token_box: bytes | None = field(default=None, repr=False)  # sealed
    from_number: str | None = field(default=None, repr=False)
    tenant_name: str = ""


@dataclass(frozen=True, slots=True)
class AttemptResult:
    delivered: bool
    retryable: bool
    duration_ms: float
    status_code: int | None = None
    error: str | None = None
    retry_after_s: float | None = None  # what the destination asked for (429/503)
    opted_out: str | None = None  # a number that turned out to have said STOP


def event_id(tenant_id: str, event_type: str, key: str) -> uuid.UUID:
    """The stable id of one event: its idempotency key everywhere it goes."""
    return uuid.uuid5(_NAMESPACE, f"{tenant_id}:{event_type}:{key}")


async def emit(
    conn: Conn,
    tenant_id: str,
    event_type: str,
    key: str,
    data: Mapping[str, Any],
    *,
    queue: str,
    confirm_to: str | None = None,
) -> int:
    """Queue ``event_type`` for every destination that wants it on the writing engine's
    ``queue``, inside the caller's transaction; rows added (0 when none is configured or the
    event was emitted before). ``confirm_to``: a caller's number that asked for a text
    confirming the event (nothing is queued for a number that opted out)."""
    if event_type not in EVENT_TYPES:
        raise ValueError(f"unknown event type {event_type!r}")
    eid = event_id(tenant_id, event_type, key)
    envelope = {
        "id": str(eid),
        "type": event_type,
        "created_at": datetime.now(UTC).isoformat(),
        "data": dict(data),
    }
    status = await conn.execute(
        _FAN_OUT,
        uuid.UUID(tenant_id),
        eid,
        event_type,
        envelope,
        queue,
        confirm_to,
    )
    return int(status.rsplit(" ", 1)[-1])


async def claim(
    pool: asyncpg.Pool, queue: str, limit: int, *, lease_s: int, max_attempts: int
) -> list[DeliveryClaim]:
    """Up to ``limit`` due deliveries of ``queue``, of any tenant (or ones whose drain died),
    leased to us."""
    async with pool.acquire(timeout=ACQUIRE_TIMEOUT_S) as conn:
        rows = await conn.fetch(_CLAIM, queue, limit, lease_s, max_attempts)
    return [
        DeliveryClaim(
            tenant_id=str(r["tenant_id"]),
            delivery_id=str(r["delivery_id"]),
            attempts=r["attempts"],
            lease_id=str(r["lease_id"]),
        )
        for r in rows
    ]


async def leased(pool: asyncpg.Pool, job: DeliveryClaim) -> Delivery | None:
    """The claimed delivery while the lease is still ours."""
    async with tenant_tx(pool, job.tenant_id) as conn:
        row = await conn.fetchrow(
            _LEASED, uuid.UUID(job.tenant_id), uuid.UUID(job.delivery_id), uuid.UUID(job.lease_id)
        )
    if row is None:
        return None
    return Delivery(
        event_id=str(row["event_id"]),
        event_type=row["event_type"],
        destination=row["destination"],
        # jsonb normalises the text; what is signed and sent is exactly these bytes
        body=row["payload"].encode(),
        created_at=row["created_at"],
        url=row["url"],
        secret_box=row["secret_box"],
        opted_out=row["opted_out"],
        twilio_account_sid=row["twilio_account_sid"],
        twilio_auth_token_box=row["twilio_auth_token_box"],
        from_number=row["from_number"],
        tenant_name=row["tenant_name"],
    )


async def settle(
    pool: asyncpg.Pool,
    job: DeliveryClaim,
    result: AttemptResult,
    *,
    retry_in_s: float,
    max_attempts: int,
) -> str | None:
    """Log the attempt and move the delivery on (delivered, pending again, or dead) in one
    transaction; the new status, or None when the lease was lost (then nothing is written)."""
    tenant, delivery = uuid.UUID(job.tenant_id), uuid.UUID(job.delivery_id)
    error = result.error[:500] if result.error else None
    async with tenant_tx(pool, job.tenant_id) as conn:
        status: str | None = await conn.fetchval(
            _SETTLE,
            tenant,
            delivery,
            uuid.UUID(job.lease_id),
            result.delivered,
            not result.retryable,
            max_attempts,
            float(retry_in_s),
            result.status_code,
            error,
        )
        if status is not None:
            await conn.execute(
                _LOG_ATTEMPT, tenant, delivery, result.duration_ms, result.status_code, error
            )
            if result.opted_out:
                await conn.execute(_OPT_OUT, tenant, result.opted_out)
    return status
