"""The Ray Serve ingress deployment. Each replica builds its FastAPI app at start-up, with its
own small DB pool and handles to the tenant and pool actors, and serves it on the webhook port
itself (admin_api/listener.py): Serve runs no HTTP proxy in front of it."""

from __future__ import annotations

import structlog
from fastapi import FastAPI
from ray import serve

from actors.control_actors import RayTenantGateway
from actors.ray_runtime import replica_grpc_on_loopback
from admin_api.app import build_app
from admin_api.context import WebhookContext
from admin_api.listener import HttpListener
from engine.config import EngineConfig
from engine.logs import configure_actor
from memory import tenants

log = structlog.get_logger(__name__)


@serve.deployment(
    name="ingress",
    # on the head node, where the webhook port has always been (Serve's proxy ran there)
    ray_actor_options={"num_cpus": 0, "resources": {"node:__internal_head__": 0.001}},
    num_replicas=1,
)
@serve.ingress()
class Ingress:
    """State it owns: the webhook context (DB pool, number cache, metrics registry) and the
    listening socket of the webhook port. Stateless otherwise; when a replica dies Serve
    starts another, which binds the same port, and nothing is lost."""

    # Serve awaits an async constructor (the listener binds on the replica's event loop)
    async def __init__(  # type: ignore[misc]
        self, config: EngineConfig, http_host: str, http_port: int
    ) -> None:
        configure_actor(config)
        replica_grpc_on_loopback()
        gateway = RayTenantGateway(config)
        self._ctx = WebhookContext(config, gateway)
        self._app = build_app(self._ctx)
        await gateway.warm(await self._active_tenants())
        self._listener = await HttpListener.start(
            self._app, http_host, http_port, forwarded_allow_ips=config.forwarded_allow_ips
        )

    async def _active_tenants(self) -> list[str]:
        """The tenants whose actors the replica reaches before it serves (connecting its DB
        pool on the way). Best effort: with the database down the replica still serves
        (`/healthz` says what is wrong) and each tenant's first webhook does this instead."""
        try:
            return await tenants.active_tenants(await self._ctx.db())
        except Exception as exc:
            log.warning("ingress_warm_failed", error=repr(exc))
            return []

    def __serve_build_asgi_app__(self) -> FastAPI:
        return self._app

    def check_health(self) -> None:
        """Serve's periodic health check: a replica whose listener has stopped serving is
        unhealthy, and Serve replaces it (the new one binds the port again)."""
        if not self._listener.serving:
            raise RuntimeError("the webhook listener is not serving")

    async def __del__(self) -> None:
        """Serve's graceful shutdown: stop taking requests, finish those in flight, then
        the app's own shutdown (Serve's ASGI wrapper, next in line)."""
        await self._listener.stop()
        parent = getattr(super(), "__del__", None)
        if parent is not None:
            await parent()
