"""The admin HTTP API: a FastAPI application mounted at /api/v1 by admin_api.app.build_app.

OpenAPI at /api/v1/openapi.json, interactive docs at /api/v1/docs (admin_api.api_docs; both
for operators only, admin_api.internal_only). One router per resource;
bodies bounded and security headers set (admin_api.middleware); errors shaped by admin_api.errors.
"""

from __future__ import annotations

from fastapi import FastAPI

from admin_api import api_docs, errors
from admin_api.context import WebhookContext
from admin_api.middleware import BodyLimit, SecurityHeaders
from admin_api.routers import (
    agent,
    audit,
    auth,
    call_templates,
    callers,
    calls,
    compliance,
    custom_tools,
    deliveries,
    invitations,
    knowledge,
    live,
    messages,
    notion,
    overflow,
    overview,
    recordings,
    staff_texts,
    tenants,
    test_call,
    urgent_claims,
    users,
    verification,
    voices,
    webhook_endpoints,
)
from admin_api.state import AdminState

PREFIX = "/api/v1"
DESCRIPTION = """
The admin API of NeuroSphere Voice. Log in at `POST /auth/login` for a 15-minute access token
(send it as `Authorization: Bearer ...`) and a refresh token (use it once at
`POST /auth/refresh`). Platform admins manage tenants; a tenant's owners and admins run its
agent; viewers read. Another tenant's ids are always 404.
"""


def build_admin_api(ctx: WebhookContext, admin: AdminState) -> FastAPI:
    api = FastAPI(
        title="NeuroSphere Voice admin API",
        version="1",
        description=DESCRIPTION,
        openapi_url="/openapi.json",
        docs_url=None,  # admin_api.api_docs: offline, no CDN
        redoc_url=None,
    )
    api.state.webhooks = ctx
    api.state.admin = admin
    errors.install(api)
    for module in (
        auth,
        invitations,
        tenants,
        users,
        verification,
        compliance,
        agent,
        voices,
        test_call,
        overview,
        calls,
        live,
        recordings,
        callers,
        knowledge,
        messages,
    ):
        api.include_router(module.router)
    api.include_router(webhook_endpoints.router)
    api.include_router(custom_tools.router)
    api.include_router(deliveries.router)
    api.include_router(staff_texts.router)
    api.include_router(call_templates.router)
    api.include_router(urgent_claims.router)
    api.include_router(overflow.router)
    api.include_router(notion.router)
    api.include_router(audit.router)
    api.include_router(api_docs.router)
    api_docs.add_password_flow(api, f"{PREFIX}/auth/token")
    api.add_middleware(BodyLimit)
    api.add_middleware(SecurityHeaders)
    return api
