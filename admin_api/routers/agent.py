"""/agent: the tenant's agent - name, greetings, voice, turn detection, persona sliders and
presets, prompt blocks, transfer rules, keypad actions, limits, recording, PII redaction,
retention - and a preview of the exact instructions it will get.

Owners and admins change it; viewers read it. Every change is validated whole (see
admin_api.agent_rules), stored with a new version and an audit entry in one transaction, and
then the tenant actor reloads, so the very next call uses it.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Annotated, Any

import structlog
from fastapi import APIRouter, HTTPException, Query

from admin_api import agent_rules
from admin_api.auth import TenantEditor, TenantUser
from admin_api.preview import preview
from admin_api.routers.tenants import apply_to_calls
from admin_api.schemas.agent import (
    AgentConfigPublic,
    AgentConfigUpdate,
    PresetApply,
    PresetsPublic,
    PreviewDraft,
    PreviewPublic,
    clearable_settings,
)
from admin_api.schemas.common import ERRORS, CallerNumber, Timestamp
from admin_api.webhooks import Ctx
from engine.config import REALTIME_VOICES, TenantConfig
from engine.tools import TOOL_NAMES
from memory import agent_settings, tenants
from memory.agent_settings import AgentSettings
from prompts.blocks import BLOCK_PRESETS
from prompts.greeting import PLACEHOLDERS
from prompts.persona import PRESETS, SLIDER_KEYS, validate_sliders

log = structlog.get_logger(__name__)

router = APIRouter(responses=ERRORS, prefix="/agent", tags=["agent"])

PREVIEW_CALLER = "+15550000000"


def config_public(settings: AgentSettings) -> AgentConfigPublic:
    return AgentConfigPublic.model_validate(agent_rules.public_dict(settings))


async def _save(ctx: Ctx, member: TenantEditor, change: Any, action: str) -> AgentConfigPublic:
    def checked(current: AgentSettings) -> AgentSettings:
        try:
            result: AgentSettings = change(current)
        except agent_rules.StaleVersion as exc:
            raise HTTPException(409, str(exc)) from None
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from None
        return result

    saved = await agent_settings.update_settings(
        await ctx.db(), member.tenant_id, member.actor, checked, action=action
    )
    if saved is None:
        raise HTTPException(404, "this tenant has no agent")
    await apply_to_calls(ctx, member.tenant_id)
    log.info("agent_updated", tenant_id=member.tenant_id, version=saved.version)
    return config_public(saved)


@router.get("", response_model=AgentConfigPublic)
async def get_agent(member: TenantUser, ctx: Ctx) -> AgentConfigPublic:
    settings = await agent_settings.get_settings(await ctx.db(), member.tenant_id)
    if settings is None:
        raise HTTPException(404, "this tenant has no agent")
    return config_public(settings)


@router.patch("", response_model=AgentConfigPublic)
async def update_agent(
    body: AgentConfigUpdate, member: TenantEditor, ctx: Ctx
) -> AgentConfigPublic:
    """Change what is given; the next call uses it."""
    return await _save(
        ctx, member, lambda current: agent_rules.apply_update(current, body), "agent.updated"
    )


@router.post("/persona-preset", response_model=AgentConfigPublic)
async def apply_persona_preset(
    body: PresetApply, member: TenantEditor, ctx: Ctx
) -> AgentConfigPublic:
    """Set all 30 persona sliders to a preset's values."""
    return await _save(
        ctx,
        member,
        lambda current: agent_rules.with_preset(current, body.preset),
        "agent.preset_applied",
    )


@router.get("/presets", response_model=PresetsPublic)
async def presets(member: TenantUser) -> PresetsPublic:
    """What the settings may be: voices, slider keys and presets, prompt-block presets."""
    return PresetsPublic(
        voices=list(REALTIME_VOICES),
        slider_keys=list(SLIDER_KEYS),
        slider_presets={name: dict(values) for name, values in PRESETS.items()},
        block_presets={block: dict(texts) for block, texts in BLOCK_PRESETS.items()},
        greeting_placeholders=sorted(PLACEHOLDERS),
        tools=list(TOOL_NAMES),
        update_schema=AgentConfigUpdate.model_json_schema(),
        clearable=clearable_settings(),
    )


@router.post("/preview", response_model=PreviewPublic)
async def preview_draft(body: PreviewDraft, member: TenantUser, ctx: Ctx) -> PreviewPublic:
    """The instructions the next call would get with these sliders, without saving them (the
    console shows it as the sliders move)."""
    snapshot = await tenants.load_config(await ctx.db(), member.tenant_id)
    if snapshot is None:
        raise HTTPException(409, "this tenant is suspended")
    if body.sliders is not None:
        try:
            merged = validate_sliders({**dict(snapshot.sliders), **body.sliders})
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from None
        snapshot = replace(snapshot, sliders=tuple(sorted(merged.items())))
    return _preview(snapshot, PREVIEW_CALLER, None, datetime.now(UTC))


def _preview(
    snapshot: TenantConfig, caller_number: str, caller_name: str | None, now: datetime
) -> PreviewPublic:
    try:
        result = preview(snapshot, caller_number=caller_number, caller_name=caller_name, now=now)
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None
    return PreviewPublic(
        instructions=result.instructions,
        greeting=result.greeting,
        voice=result.voice,
        tools=list(result.tools),
        version=result.version,
    )


@router.get("/preview", response_model=PreviewPublic)
async def preview_instructions(
    member: TenantUser,
    ctx: Ctx,
    caller_number: Annotated[CallerNumber, Query()] = PREVIEW_CALLER,
    caller_name: Annotated[str | None, Query(min_length=1, max_length=100)] = None,
    at: Annotated[
        Timestamp | None, Query(description="Clock to render with (default now).")
    ] = None,
) -> PreviewPublic:
    """The exact instructions and greeting the agent gets for a first-time caller's call
    (with `caller_name`, the returning-caller greeting)."""
    snapshot = await tenants.load_config(await ctx.db(), member.tenant_id)
    if snapshot is None:
        raise HTTPException(409, "this tenant is suspended")
    return _preview(snapshot, caller_number, caller_name, at or datetime.now(UTC))
