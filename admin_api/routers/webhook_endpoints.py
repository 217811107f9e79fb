"""/webhook-endpoints: the agency's own systems that are told about calls and messages.

The signing secret is made here, shown once in the creation answer, and stored sealed."""

from __future__ import annotations

import secrets
import uuid

from fastapi import APIRouter, HTTPException, Response

from admin_api.auth import Admin, TenantEditor, TenantUser
from admin_api.schemas.common import ERRORS, Page
from admin_api.schemas.integrations import EndpointCreate, EndpointCreated, EndpointPublic
from admin_api.webhooks import Ctx
from engine.secret_box import WEBHOOK_LABEL, SecretBox
from memory import outbox_admin
from memory.outbox_admin import Endpoint, TooManyEndpoints

router = APIRouter(responses=ERRORS, prefix="/webhook-endpoints", tags=["integrations"])


def _public(endpoint: Endpoint) -> EndpointPublic:
    return EndpointPublic(
        endpoint_id=endpoint.endpoint_id,
        url=endpoint.url,
        events=list(endpoint.events),  # type: ignore[arg-type]
        enabled=endpoint.enabled,
        created_at=endpoint.created_at,
    )


@router.get("", response_model=Page[EndpointPublic])
async def list_endpoints(member: TenantUser, ctx: Ctx) -> Page[EndpointPublic]:
    """Every endpoint (at most MAX_ENDPOINTS), in one page."""
    endpoints = await outbox_admin.list_endpoints(await ctx.db(), member.tenant_id)
    return Page[EndpointPublic](items=[_public(e) for e in endpoints], next_cursor=None)


@router.post("", response_model=EndpointCreated, status_code=201)
async def create_endpoint(
    body: EndpointCreate, member: TenantEditor, ctx: Ctx, admin: Admin
) -> EndpointCreated:
    secret = "whsec_" + secrets.token_urlsafe(32)
    sealed = SecretBox(admin.config.jwt_secret, WEBHOOK_LABEL).seal(secret)
    try:
        endpoint = await outbox_admin.create_endpoint(
            await ctx.db(),
            member.tenant_id,
            body.url,
            sealed,
            sorted(set(body.events)),
            member.actor,
        )
    except TooManyEndpoints as exc:
        raise HTTPException(409, str(exc)) from None
    return EndpointCreated(**_public(endpoint).model_dump(), secret=secret)


@router.delete("/{endpoint_id}", status_code=204)
async def delete_endpoint(endpoint_id: uuid.UUID, member: TenantEditor, ctx: Ctx) -> Response:
    if not await outbox_admin.delete_endpoint(
        await ctx.db(), member.tenant_id, str(endpoint_id), member.actor
    ):
        raise HTTPException(404, "no such webhook endpoint")
    return Response(status_code=204)
