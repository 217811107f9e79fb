"""/agent/voices and /agent/voice: which voices the agent may speak with, and which it does.

An ElevenLabs voice must be one of the account's (admin_api.voice_catalog, cached); changing the
voice makes a new agent version the next call uses.
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException

from admin_api import voice_catalog
from admin_api.auth import TenantEditor, TenantUser
from admin_api.routers.tenants import apply_to_calls
from admin_api.schemas.common import ERRORS
from admin_api.schemas.voices import AgentVoice, VoiceList, VoicePublic
from admin_api.webhooks import Ctx
from engine.config import REALTIME_VOICES, ElevenLabsVoice, EngineConfig
from memory import tenants

router = APIRouter(responses=ERRORS, tags=["agent"])


async def _account_voices(config: EngineConfig) -> tuple[voice_catalog.CatalogVoice, ...]:
    if not config.elevenlabs_api_key:
        return ()
    try:
        return await voice_catalog.voices(config.elevenlabs_base_url, config.elevenlabs_api_key)
    except voice_catalog.CatalogError as exc:
        raise HTTPException(502, f"{exc} - try again later") from None


@router.get("/agent/voices", response_model=VoiceList)
async def list_voices(member: TenantUser, ctx: Ctx) -> VoiceList:
    found = await _account_voices(ctx.config)
    return VoiceList(
        realtime=list(REALTIME_VOICES),
        elevenlabs=[
            VoicePublic(
                voice_id=v.voice_id, name=v.name, category=v.category, labels=dict(v.labels)
            )
            for v in found
        ],
    )


@router.get("/agent/voice", response_model=AgentVoice)
async def get_voice(member: TenantUser, ctx: Ctx) -> AgentVoice:
    config = await tenants.load_config(await ctx.db(), member.tenant_id)
    if config is None:
        raise HTTPException(404, "this tenant has no agent")
    voice = config.elevenlabs
    if voice is None:
        return AgentVoice.model_validate({"provider": "realtime"})
    return AgentVoice.model_validate(
        {
            "provider": "elevenlabs",
            "voice_id": voice.voice_id,
            "model_id": voice.model_id,
            "stability": voice.stability,
            "similarity_boost": voice.similarity_boost,
            "speed": voice.speed,
        }
    )


@router.put("/agent/voice", response_model=AgentVoice)
async def set_voice(body: AgentVoice, member: TenantEditor, ctx: Ctx) -> AgentVoice:
    chosen: ElevenLabsVoice | None = None
    if body.provider == "elevenlabs":
        if body.voice_id is None:
            raise HTTPException(422, "an ElevenLabs voice needs voice_id (see GET /agent/voices)")
        if not ctx.config.elevenlabs_api_key:
            raise HTTPException(422, "ElevenLabs voices are not available: no ElevenLabs key")
        if body.voice_id not in {v.voice_id for v in await _account_voices(ctx.config)}:
            raise HTTPException(422, f"no voice {body.voice_id!r} in the ElevenLabs account")
        chosen = ElevenLabsVoice(
            body.voice_id, body.model_id, body.stability, body.similarity_boost, body.speed
        )
    elif body.voice_id is not None:
        raise HTTPException(422, "voice_id is for ElevenLabs voices (provider: elevenlabs)")
    if not await tenants.set_elevenlabs_voice(await ctx.db(), member.tenant_id, chosen):
        raise HTTPException(404, "this tenant has no agent")
    await apply_to_calls(ctx, member.tenant_id)
    return body
