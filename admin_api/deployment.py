"""The Ray Serve ingress deployment. Each replica builds its FastAPI app at start-up, with its
own small DB pool and handles to the tenant and pool actors."""

from __future__ import annotations

from fastapi import FastAPI
from ray import serve

from actors.handles import RayTenantGateway
from admin_api.app import build_app
from admin_api.context import WebhookContext
from engine.config import EngineConfig
from engine.logs import configure


@serve.deployment(
    name="ingress",
    ray_actor_options={"num_cpus": 0},
    num_replicas=1,
    max_ongoing_requests=200,
)
@serve.ingress()
class Ingress:
    """State it owns: the webhook context (DB pool, number cache, metrics registry). Stateless
    otherwise; when a replica dies Serve starts another and nothing is lost."""

    def __init__(self, config: EngineConfig) -> None:
        configure(config.log_format, redact=config.log_format == "json")
        self._ctx = WebhookContext(config, RayTenantGateway(config))

    def __serve_build_asgi_app__(self) -> FastAPI:
        return build_app(self._ctx)
