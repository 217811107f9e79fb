"""Login and token-refresh rate limits, shared by every Serve replica through Postgres.
I/O: one upsert per hit (memory.login_limits) and, about once a minute per replica, a prune.

Each `Limit` allows `limit` hits per sliding `window_s` per key (a client IP, an email
digest). What is stored is an HMAC of the limit's name and the key, under a key derived from
the JWT secret every replica shares: no address or email reaches the table, and a leaked table
cannot be reversed by hashing all IPv4 addresses. The per-account lockout for password guessing
is separate (memory.users, login_throttle).
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable
from dataclasses import dataclass

import asyncpg

from memory import login_limits

PRUNE_EVERY_S = 60.0


@dataclass(frozen=True, slots=True)
class Limit:
    """At most `limit` hits per `window_s` seconds per key; `name` keeps limits apart."""

    name: str
    limit: int
    window_s: float


class SharedLimits:
    """Counts hits of every `Limit` in Postgres; holds only the HMAC key and a prune clock."""

    def __init__(
        self,
        secret: str,
        *,
        prune_every_s: float = PRUNE_EVERY_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._key = hashlib.sha256(b"neurosphere-login-limits:" + secret.encode()).digest()
        self._prune_every = prune_every_s
        self._clock = clock
        self._pruned_at: float | None = None

    def key(self, limit: Limit, value: str) -> bytes:
        """The stored key for `value` under `limit` (32 bytes, not reversible without the
        secret)."""
        message = f"{limit.name}\x00{value}".encode()
        return hmac.new(self._key, message, hashlib.sha256).digest()

    async def hit(self, pool: asyncpg.Pool, limit: Limit, value: str) -> float | None:
        """Count one hit; None when allowed, else seconds until the next one would be."""
        wait = await login_limits.hit(
            pool, self.key(limit, value), limit=limit.limit, window_s=limit.window_s
        )
        now = self._clock()
        if self._pruned_at is None or now - self._pruned_at >= self._prune_every:
            self._pruned_at = now
            await login_limits.prune(pool)
        return wait
