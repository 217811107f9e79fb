"""What the Serve ingress replica holds: config, a small app-role DB pool, a cache of
number -> tenant, the gateway to tenant and pool actors (including `reload`, which the admin
API calls after a change so the next call sees it), and its Prometheus registry.

When the database cannot answer a number lookup, the last answer cached for the number is used
however old it is (a database failover must not turn ringing calls into Twilio's application
error); a number never seen raises `LookupUnavailable`, which the webhook answers politely."""

from __future__ import annotations

import asyncio
import time

import asyncpg
import structlog
from prometheus_client import CollectorRegistry, Counter, Histogram

from actors.ports import TenantGateway
from engine.config import EngineConfig
from memory import tenants
from memory.db import LazyPool
from memory.errors import DATABASE_DOWN

log = structlog.get_logger(__name__)

NUMBER_CACHE_TTL_S = 10.0
LOOKUP_TIMEOUT_S = 2.0


class LookupUnavailable(Exception):
    """The database could not say which tenant owns a number, and no earlier answer is cached."""


class WebhookMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.webhook_seconds = Histogram(
            "neurosphere_webhook_seconds",
            "Time to answer a Twilio webhook",
            ["route"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0),
            registry=self.registry,
        )
        self.call_setups = Counter(
            "neurosphere_call_setups",
            "Incoming calls by what the webhook answered",
            ["outcome"],
            registry=self.registry,
        )
        self.rejected = Counter(
            "neurosphere_webhook_rejected",
            "Webhooks refused (bad signature, bad body)",
            ["route", "reason"],
            registry=self.registry,
        )


class WebhookContext:
    def __init__(self, config: EngineConfig, gateway: TenantGateway) -> None:
        self.config = config
        self.gateway = gateway
        self.metrics = WebhookMetrics()
        # no reset query on release: every webhook's answer waited on that round trip, and
        # nothing here sets session state (tenants only inside transactions, memory.db)
        self._pool = LazyPool(config.app_database_url, min_size=1, max_size=8, reset_session=False)
        self._numbers: dict[str, tuple[str | None, float]] = {}

    async def db(self) -> asyncpg.Pool:
        return await self._pool.get()

    async def tenant_for_number(self, number: str) -> str | None:
        cached = self._numbers.get(number)
        now = time.monotonic()
        if cached is not None and cached[1] > now:
            return cached[0]
        try:
            tenant_id = await asyncio.wait_for(self._resolve(number), LOOKUP_TIMEOUT_S)
        except DATABASE_DOWN as exc:
            log.warning("number_lookup_failed", cached=cached is not None, error=repr(exc))
            if cached is not None:
                return cached[0]
            raise LookupUnavailable from exc
        if len(self._numbers) > 10_000:
            self._numbers.clear()
        self._numbers[number] = (tenant_id, now + NUMBER_CACHE_TTL_S)
        return tenant_id

    async def _resolve(self, number: str) -> str | None:
        return await tenants.resolve_number(await self.db(), number)

    def forget_numbers(self) -> None:
        """Drop the number cache (an admin changed a tenant's numbers or status)."""
        self._numbers.clear()

    async def close(self) -> None:
        await self._pool.close()
