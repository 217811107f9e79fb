"""The control plane's named actors in Ray: the call pool and one actor per tenant, made on
first use (or found by name), and the tenant gateway the Serve ingress reaches them through.

Apart from actors.handles because the pool takes its call actors through that module: the
pool's own module and the module that makes the pool never import each other.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import structlog

from actors.handles import (
    HEAD,
    POOL_NAME,
    Forwarder,
    NamedActors,
    RayMemoryClient,
    RayPool,
    actor_class,
    await_ref,
    memory_actors,
    protocol_methods,
)
from actors.ports import TenantGateway
from actors.ray_runtime import NAMESPACE
from engine.config import EngineConfig

log = structlog.get_logger(__name__)

RECORDING_HANDOFF_TIMEOUT_S = 2.0
WARM_CONCURRENCY = 16  # tenant actors warmed at once when an ingress replica starts


def call_pool(config: EngineConfig) -> Any:
    from actors.call_pool import CallPool

    cls = actor_class(CallPool, num_cpus=0, resources=HEAD, max_restarts=-1, max_task_retries=0)
    return cls.options(
        name=POOL_NAME, namespace=NAMESPACE, get_if_exists=True, lifetime="detached"
    ).remote(config)


def tenant_actor(config: EngineConfig, tenant_id: str) -> Any:
    from actors.tenant_actor import TenantActor

    cls = actor_class(TenantActor, num_cpus=0, resources=HEAD, max_restarts=-1, max_task_retries=0)
    return cls.options(
        name=f"tenant:{tenant_id}", namespace=NAMESPACE, get_if_exists=True, lifetime="detached"
    ).remote(config, tenant_id, RayMemoryClient(memory_actors(config)), RayPool(call_pool(config)))


class RayTenantGateway(Forwarder):
    """TenantGateway for the Serve ingress: tenant actors by name (the first argument), created
    on first use."""

    METHODS = protocol_methods(TenantGateway) - {"pool_stats"}
    TIMEOUTS: ClassVar[Mapping[str, float]] = {
        "admit": 20.0,
        "admit_test": 20.0,
        "resume": 20.0,
        # the tenant actor only starts a task; Twilio waits on us
        "fetch_recordings": RECORDING_HANDOFF_TIMEOUT_S,
    }

    def __init__(self, config: EngineConfig) -> None:
        self._config = config
        self._tenants: dict[str, Any] = {}
        self._named = NamedActors()
        self._memory: list[Any] | None = None  # the memory actors, looked up on first use

    async def _target(self, method: str, args: tuple[Any, ...]) -> tuple[Any, tuple[Any, ...]]:
        return await self._tenant(args[0]), args[1:]

    async def _tenant(self, tenant_id: str) -> Any:
        """The tenant's actor, looked up (or created) once per replica, in a thread: the
        lookups are blocking requests to the GCS, one per actor the tenant actor is handed,
        and would stall every other webhook of the replica meanwhile."""
        handle = self._tenants.get(tenant_id)
        if handle is None:
            handle = await asyncio.to_thread(tenant_actor, self._config, tenant_id)
            self._tenants[tenant_id] = handle
        return handle

    async def warm(self, tenant_ids: Sequence[str]) -> None:
        """Before the first webhook: each tenant's actor started or looked up, and called once.
        In a fresh replica the first webhook of a tenant otherwise paid for these (imports,
        GCS lookups, a new connection): 55-66 ms against 36 ms warmed."""
        limit = asyncio.Semaphore(WARM_CONCURRENCY)

        async def one(tenant_id: str) -> None:
            async with limit:
                try:
                    await await_ref((await self._tenant(tenant_id)).check_health.remote(), 20.0)
                except Exception as exc:  # its first webhook will try again
                    self._tenants.pop(tenant_id, None)
                    log.warning("tenant_warm_failed", tenant_id=tenant_id, error=repr(exc))

        await asyncio.gather(*(one(t) for t in tenant_ids))

    async def pool_stats(self) -> dict[str, Any]:
        """The call pool's measurements, with the memory actors' query latency and failures
        (`memory_queries`) merged in; an actor that does not answer is left out."""
        from engine.query_metrics import merge

        stats: dict[str, Any] = await self._named.call(POOL_NAME, "stats", timeout=5.0)
        if self._memory is None:
            self._memory = await asyncio.to_thread(memory_actors, self._config)
        answers = await asyncio.gather(
            *(await_ref(actor.query_stats.remote(), 3.0) for actor in self._memory),
            return_exceptions=True,
        )
        stats["memory_queries"] = merge([a for a in answers if isinstance(a, dict)])
        return stats
