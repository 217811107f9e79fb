"""The FastAPI application behind the Serve ingress: Twilio webhooks and operator endpoints
(the admin API under /api/v1 joins here)."""

from __future__ import annotations

from fastapi import FastAPI

from admin_api import ops, webhooks
from admin_api.context import WebhookContext


def build_app(ctx: WebhookContext) -> FastAPI:
    app = FastAPI(title="NeuroSphere Voice", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.webhooks = ctx
    app.include_router(webhooks.router)
    app.include_router(ops.router)
    return app
