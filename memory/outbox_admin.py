"""The agency's webhook endpoints and the delivery log, as admins see them: add, list and
remove endpoints; page through deliveries with their attempts; replay one. I/O: asyncpg, on
the tables of 0007. Every change is audited; signing secrets arrive sealed and never leave.

A replay puts the delivery back to `pending` with a fresh retry budget, on the queue of the
engine whose admin asked (its secrets are the ones the admin has just saved); it goes out again
with its original event id (the receiver's idempotency key), so a receiver that already applied
it can tell.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

import asyncpg

from memory import audit
from memory.audit import Actor
from memory.db import tenant_tx

MAX_ENDPOINTS = 20

_COUNT = "SELECT count(*) FROM webhook_endpoints WHERE tenant_id = $1"
_CREATE = """
INSERT INTO webhook_endpoints (tenant_id, endpoint_id, url, secret_box, events)
VALUES ($1, $2, $3, $4, $5)
RETURNING endpoint_id, url, events, enabled, created_at
"""
_LIST = """
SELECT endpoint_id, url, events, enabled, created_at FROM webhook_endpoints
WHERE tenant_id = $1 ORDER BY created_at, endpoint_id
"""
_DELETE = "DELETE FROM webhook_endpoints WHERE tenant_id = $1 AND endpoint_id = $2"
_DELIVERIES = """
SELECT delivery_id, event_id, event_type, destination, status, attempts, last_status,
       last_error, created_at, delivered_at, run_after
FROM outbox
WHERE tenant_id = $1 AND ($2::text IS NULL OR status = $2)
  AND ($3::text IS NULL OR event_type = $3)
  AND ($4::timestamptz IS NULL OR (created_at, delivery_id) < ($4, $5::uuid))
ORDER BY created_at DESC, delivery_id DESC
LIMIT $6
"""
_DELIVERY = """
SELECT delivery_id, event_id, event_type, destination, status, attempts, last_status,
       last_error, created_at, delivered_at, run_after, payload::text AS payload
FROM outbox WHERE tenant_id = $1 AND delivery_id = $2
"""
_ATTEMPTS = """
SELECT at, duration_ms, status_code, error FROM outbox_attempts
WHERE tenant_id = $1 AND delivery_id = $2 ORDER BY attempt_id
"""
_REPLAY = """
UPDATE outbox SET status = 'pending', attempts = 0, run_after = now(), delivered_at = NULL,
       lease_id = NULL, locked_until = NULL, queue = $3
WHERE tenant_id = $1 AND delivery_id = $2 AND status IN ('delivered', 'dead')
RETURNING delivery_id
"""


class TooManyEndpoints(Exception):
    pass


@dataclass(frozen=True, slots=True)
class Endpoint:
    endpoint_id: str
    url: str
    events: tuple[str, ...]
    enabled: bool
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Attempt:
    at: datetime
    duration_ms: float
    status_code: int | None
    error: str | None


@dataclass(frozen=True, slots=True)
class DeliveryRow:
    delivery_id: str
    event_id: str
    event_type: str
    destination: str
    status: str
    attempts: int
    last_status: int | None
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None
    next_attempt_at: datetime | None
    payload: str | None = field(default=None, repr=False)
    history: tuple[Attempt, ...] = ()


def _endpoint(row: asyncpg.Record) -> Endpoint:
    return Endpoint(
        endpoint_id=str(row["endpoint_id"]),
        url=row["url"],
        events=tuple(row["events"]),
        enabled=row["enabled"],
        created_at=row["created_at"],
    )


def _delivery(row: asyncpg.Record, history: Sequence[Attempt] = ()) -> DeliveryRow:
    return DeliveryRow(
        delivery_id=str(row["delivery_id"]),
        event_id=str(row["event_id"]),
        event_type=row["event_type"],
        destination=row["destination"],
        status=row["status"],
        attempts=row["attempts"],
        last_status=row["last_status"],
        last_error=row["last_error"],
        created_at=row["created_at"],
        delivered_at=row["delivered_at"],
        next_attempt_at=row["run_after"] if row["status"] == "pending" else None,
        payload=row.get("payload"),
        history=tuple(history),
    )


async def create_endpoint(
    pool: asyncpg.Pool,
    tenant_id: str,
    url: str,
    sealed_secret: bytes,
    events: Sequence[str],
    actor: Actor,
) -> Endpoint:
    tenant = uuid.UUID(tenant_id)
    async with tenant_tx(pool, tenant_id) as conn:
        if await conn.fetchval(_COUNT, tenant) >= MAX_ENDPOINTS:
            raise TooManyEndpoints(f"at most {MAX_ENDPOINTS} webhook endpoints per agency")
        row = await conn.fetchrow(_CREATE, tenant, uuid.uuid4(), url, sealed_secret, list(events))
        assert row is not None
        endpoint = _endpoint(row)
        await audit.write(
            conn,
            tenant_id,
            actor,
            "webhook_endpoint.create",
            endpoint.endpoint_id,
            {"url": url, "events": list(events)},
        )
    return endpoint


async def list_endpoints(pool: asyncpg.Pool, tenant_id: str) -> list[Endpoint]:
    async with tenant_tx(pool, tenant_id) as conn:
        rows = await conn.fetch(_LIST, uuid.UUID(tenant_id))
    return [_endpoint(r) for r in rows]


async def delete_endpoint(
    pool: asyncpg.Pool, tenant_id: str, endpoint_id: str, actor: Actor
) -> bool:
    """Remove an endpoint; deliveries still queued for it are dead-lettered when claimed."""
    async with tenant_tx(pool, tenant_id) as conn:
        status = await conn.execute(_DELETE, uuid.UUID(tenant_id), uuid.UUID(endpoint_id))
        deleted = status.endswith(" 1")
        if deleted:
            await audit.write(conn, tenant_id, actor, "webhook_endpoint.delete", endpoint_id)
    return deleted


async def list_deliveries(
    pool: asyncpg.Pool,
    tenant_id: str,
    *,
    status: str | None,
    event_type: str | None,
    after: tuple[datetime, str] | None,
    limit: int,
) -> list[DeliveryRow]:
    at, key = after if after is not None else (None, None)
    async with tenant_tx(pool, tenant_id) as conn:
        rows = await conn.fetch(
            _DELIVERIES, uuid.UUID(tenant_id), status, event_type, at, key, limit
        )
    return [_delivery(r) for r in rows]


async def get_delivery(pool: asyncpg.Pool, tenant_id: str, delivery_id: str) -> DeliveryRow | None:
    """One delivery with its body and every attempt, oldest first."""
    tenant, delivery = uuid.UUID(tenant_id), uuid.UUID(delivery_id)
    async with tenant_tx(pool, tenant_id) as conn:
        row = await conn.fetchrow(_DELIVERY, tenant, delivery)
        attempts = await conn.fetch(_ATTEMPTS, tenant, delivery) if row is not None else []
    if row is None:
        return None
    history = [
        Attempt(
            at=a["at"], duration_ms=a["duration_ms"], status_code=a["status_code"], error=a["error"]
        )
        for a in attempts
    ]
    return _delivery(row, history)


async def replay(
    pool: asyncpg.Pool, tenant_id: str, delivery_id: str, actor: Actor, *, queue: str
) -> bool:
    """Send a delivered or dead-lettered delivery again from ``queue``; False when there is no
    such delivery or it is still on its way."""
    async with tenant_tx(pool, tenant_id) as conn:
        row = await conn.fetchval(_REPLAY, uuid.UUID(tenant_id), uuid.UUID(delivery_id), queue)
        if row is not None:
            await audit.write(conn, tenant_id, actor, "delivery.replay", delivery_id)
    return row is not None
