"""A tenant's config as its TenantActor last loaded it, kept for a while (CONFIG_TTL_S).

One load at a time: webhooks that find the snapshot expired (or missing) wait on the same load
instead of each starting one (a burst at 20 calls/s found it expired together, and every
admission queued its own round trip to the memory actors and Postgres). `reload` (an admin's
change) never reuses a load begun before it, and a load begun before it never overwrites what
it loaded. No I/O of its own: `load` is the tenant actor's (memory actors, Postgres).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from engine.config import TenantConfig

CONFIG_TTL_S = 30.0


class TenantSnapshot:
    def __init__(
        self,
        load: Callable[[], Awaitable[TenantConfig | None]],
        on_loaded: Callable[[TenantConfig], None],
        ttl_s: float = CONFIG_TTL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._load = load
        self._on_loaded = on_loaded
        self._ttl_s = ttl_s
        self._clock = clock
        self._snapshot: TenantConfig | None = None
        self._loaded_at = 0.0
        self._generation = 0  # a reload starts a new one
        self._loading: asyncio.Task[TenantConfig | None] | None = None

    async def get(self) -> TenantConfig | None:
        """The config, loaded again when it is older than the TTL (None: tenant missing or
        suspended, asked again every time)."""
        if self._snapshot is not None and self._clock() - self._loaded_at <= self._ttl_s:
            return self._snapshot
        if self._loading is None:
            self._loading = asyncio.get_running_loop().create_task(self._fetch(self._generation))
        # shielded: one waiter cancelled (its webhook gave up) does not cancel the others' load
        return await asyncio.shield(self._loading)

    async def reload(self) -> TenantConfig | None:
        """Drop the snapshot and load it anew (not from a load begun before)."""
        self._generation += 1
        self._snapshot, self._loading = None, None
        return await self.get()

    async def _fetch(self, generation: int) -> TenantConfig | None:
        try:
            tenant = await self._load()
        finally:
            if generation == self._generation:
                self._loading = None
        if generation != self._generation:  # a reload since: what it loads is newer
            return tenant
        self._snapshot, self._loaded_at = tenant, self._clock()
        if tenant is not None:
            self._on_loaded(tenant)
        return tenant
