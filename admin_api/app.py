"""The FastAPI application behind the Serve ingress: Twilio webhooks (including the recording
callback), operator endpoints, the admin API mounted at /api/v1 and the console at /console.
/metrics and the API docs are served to operators only (admin_api.internal_only)."""

from __future__ import annotations

from fastapi import FastAPI

from admin_api import console, ops, webhooks
from admin_api.api import PREFIX, build_admin_api
from admin_api.context import WebhookContext
from admin_api.internal_only import InternalOnly
from admin_api.routers import queue_webhooks, recording_webhook, sms_webhook, warm_transfer
from admin_api.state import AdminState


def build_app(ctx: WebhookContext, admin: AdminState | None = None) -> FastAPI:
    """The ingress app. `admin` holds the admin API's per-replica state (made here unless a
    test passes its own)."""
    state = admin or AdminState(ctx.config)
    app = FastAPI(title="NeuroSphere Voice", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.webhooks = ctx
    app.state.admin = state
    app.include_router(webhooks.router)
    app.include_router(recording_webhook.router)
    app.include_router(sms_webhook.router)
    app.include_router(warm_transfer.router)
    app.include_router(queue_webhooks.router)
    app.include_router(ops.router)
    app.include_router(console.router)
    app.mount(PREFIX, build_admin_api(ctx, state))
    app.add_middleware(InternalOnly, ops_token=ctx.config.ops_token)
    return app
