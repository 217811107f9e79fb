"""/agent/verification and /callers/{number}/identifiers: who must prove what before the agent
may use what it remembers about them.

The policy is part of the agent (a new version, audited; the next call uses it). Identifiers
are write-only: an admin sets them from the agency's records, the API says which fields are on
file, and only the engine compares them (engine.verification) when a caller states them.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path

from admin_api.auth import TenantEditor, TenantUser
from admin_api.routers.tenants import apply_to_calls
from admin_api.schemas.common import ERRORS, CallerNumber
from admin_api.schemas.verification import (
    IdentifiersPublic,
    IdentifiersUpdate,
    VerificationPolicyBody,
)
from admin_api.webhooks import Ctx
from engine.verification import VerificationError, VerificationPolicy
from memory import verification

router = APIRouter(responses=ERRORS, tags=["verification"])

Number = Annotated[CallerNumber, Path(description="The caller's phone number, URL-encoded.")]


def _public(policy: VerificationPolicy) -> VerificationPolicyBody:
    values: dict[str, Any] = asdict(policy)
    values["fields"] = list(policy.fields)
    return VerificationPolicyBody.model_validate(values)


def _identifiers(caller_number: str, on_file: tuple[str, ...]) -> IdentifiersPublic:
    return IdentifiersPublic.model_validate(
        {"caller_number": caller_number, "fields_on_file": list(on_file)}
    )


@router.get("/agent/verification", response_model=VerificationPolicyBody)
async def get_policy(member: TenantUser, ctx: Ctx) -> VerificationPolicyBody:
    policy = await verification.get_policy(await ctx.db(), member.tenant_id)
    if policy is None:
        raise HTTPException(404, "this tenant has no agent")
    return _public(policy)


@router.put("/agent/verification", response_model=VerificationPolicyBody)
async def set_policy(
    body: VerificationPolicyBody, member: TenantEditor, ctx: Ctx
) -> VerificationPolicyBody:
    try:
        policy = VerificationPolicy(
            required=body.required,
            fields=tuple(dict.fromkeys(body.fields)),
            matches_needed=body.matches_needed,
            attempts_per_call=body.attempts_per_call,
            failures_per_caller=body.failures_per_caller,
            cooldown_s=body.cooldown_s,
            greet_by_name=body.greet_by_name,
        )
    except VerificationError as exc:
        raise HTTPException(422, str(exc)) from None
    if not await verification.set_policy(
        await ctx.db(), member.tenant_id, policy, actor=member.actor
    ):
        raise HTTPException(404, "this tenant has no agent")
    await apply_to_calls(ctx, member.tenant_id)
    return _public(policy)


@router.get("/callers/{caller_number}/identifiers", response_model=IdentifiersPublic)
async def get_identifiers(caller_number: Number, member: TenantUser, ctx: Ctx) -> IdentifiersPublic:
    on_file = await verification.fields_on_file(await ctx.db(), member.tenant_id, caller_number)
    return _identifiers(caller_number, on_file)


@router.put("/callers/{caller_number}/identifiers", response_model=IdentifiersPublic)
async def set_identifiers(
    caller_number: Number, body: IdentifiersUpdate, member: TenantEditor, ctx: Ctx
) -> IdentifiersPublic:
    given = body.model_dump(exclude_unset=True)
    if not given:
        raise HTTPException(422, "give at least one identifier (or null to remove one)")
    try:
        on_file = await verification.set_identifiers(
            await ctx.db(), member.tenant_id, caller_number, given, actor=member.actor
        )
    except VerificationError as exc:
        raise HTTPException(422, str(exc)) from None
    return _identifiers(caller_number, on_file)
