"""Transactions for the admin side: a tenant's, or the platform's. I/O: asyncpg.

A platform transaction sets `app.platform = 'on'` (with `set_config(..., true)`, so it ends with
the transaction) and no tenant: row-level security then shows the platform admins' own rows
(tenant_id IS NULL) of the admin tables and nothing of any tenant. `scoped_tx` picks one of the
two from a tenant id or None.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime

import asyncpg

from memory.db import Conn, acquire, tenant_tx

_PLATFORM = "SELECT set_config('app.platform', 'on', true)"


@asynccontextmanager
async def platform_tx(pool: asyncpg.Pool) -> AsyncIterator[Conn]:
    """A transaction that sees platform-level admin rows and no tenant's rows."""
    async with acquire(pool) as conn, conn.transaction():
        await conn.execute(_PLATFORM)
        yield conn


@asynccontextmanager
async def scoped_tx(pool: asyncpg.Pool, tenant_id: str | None) -> AsyncIterator[Conn]:
    """The tenant's transaction, or the platform's when `tenant_id` is None."""
    if tenant_id is None:
        async with platform_tx(pool) as conn:
            yield conn
    else:
        async with tenant_tx(pool, tenant_id) as conn:
            yield conn


def uuid_or_none(value: str | None) -> uuid.UUID | None:
    return uuid.UUID(value) if value is not None else None


class BadCursor(ValueError):
    """A pagination cursor this server did not make."""


def encode_cursor(at: datetime | None, key: str) -> str:
    """An opaque keyset cursor for (timestamp, key) ordering."""
    raw = json.dumps({"t": at.isoformat() if at else None, "k": key}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime | None, str]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
        at = data["t"]
        key = data["k"]
        if not isinstance(key, str) or not (at is None or isinstance(at, str)):
            raise BadCursor("malformed cursor")
        when = datetime.fromisoformat(at) if at is not None else None
        if when is not None and when.tzinfo is None:
            raise BadCursor("malformed cursor")
        return when, key
    except (binascii.Error, UnicodeError, ValueError, KeyError, TypeError) as exc:
        raise BadCursor("malformed cursor") from exc
