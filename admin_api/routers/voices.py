"""/agent/voices, /agent/voice and /agent/voice/key: which voices the agent may speak with,
which it does, and the tenant's own ElevenLabs key.

An ElevenLabs voice must be one of the account's (admin_api.voice_catalog, cached): the tenant's
own account when it has given its key, else the platform's. The key is write-only and stored
sealed (engine.secret_box); a key ElevenLabs refuses is not stored. Changing the voice makes a
new agent version the next call uses.
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException

from admin_api import voice_catalog
from admin_api.auth import TenantEditor, TenantUser
from admin_api.routers.tenants import apply_to_calls
from admin_api.schemas.common import ERRORS
from admin_api.schemas.voices import AgentVoice, VoiceKey, VoiceList, VoicePublic
from admin_api.webhooks import Ctx
from engine.config import REALTIME_VOICES, ElevenLabsVoice, EngineConfig, TenantConfig
from engine.secret_box import ELEVENLABS_LABEL, SecretBox
from memory import tenants

router = APIRouter(responses=ERRORS, tags=["agent"])


def _keys(config: EngineConfig) -> SecretBox:
    return SecretBox(config.jwt_secret, ELEVENLABS_LABEL)


async def _snapshot(ctx: Ctx, tenant_id: str) -> TenantConfig:
    snapshot = await tenants.load_config(await ctx.db(), tenant_id, voice_keys=_keys(ctx.config))
    if snapshot is None:
        raise HTTPException(404, "this tenant has no agent")
    return snapshot


async def _account_voices(
    config: EngineConfig, key: str | None
) -> tuple[voice_catalog.CatalogVoice, ...]:
    if not key:
        return ()
    try:
        return await voice_catalog.voices(config.elevenlabs_base_url, key)
    except voice_catalog.CatalogError as exc:
        raise HTTPException(502, f"{exc} - try again later") from None


@router.get("/agent/voices", response_model=VoiceList)
async def list_voices(member: TenantUser, ctx: Ctx) -> VoiceList:
    snapshot = await _snapshot(ctx, member.tenant_id)
    key = snapshot.elevenlabs_api_key or ctx.config.elevenlabs_api_key
    found = await _account_voices(ctx.config, key)
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
    config = await _snapshot(ctx, member.tenant_id)
    voice, own_key = config.elevenlabs, config.elevenlabs_api_key is not None
    if voice is None:
        return AgentVoice.model_validate({"provider": "realtime", "own_key": own_key})
    return AgentVoice.model_validate(
        {
            "provider": "elevenlabs",
            "voice_id": voice.voice_id,
            "model_id": voice.model_id,
            "stability": voice.stability,
            "similarity_boost": voice.similarity_boost,
            "speed": voice.speed,
            "own_key": own_key,
        }
    )


@router.put("/agent/voice", response_model=AgentVoice)
async def set_voice(body: AgentVoice, member: TenantEditor, ctx: Ctx) -> AgentVoice:
    chosen: ElevenLabsVoice | None = None
    snapshot = await _snapshot(ctx, member.tenant_id)
    key = snapshot.elevenlabs_api_key or ctx.config.elevenlabs_api_key
    if body.provider == "elevenlabs":
        if body.voice_id is None:
            raise HTTPException(422, "an ElevenLabs voice needs voice_id (see GET /agent/voices)")
        if not key:
            raise HTTPException(422, "ElevenLabs voices are not available: no ElevenLabs key")
        if body.voice_id not in {v.voice_id for v in await _account_voices(ctx.config, key)}:
            raise HTTPException(422, f"no voice {body.voice_id!r} in the ElevenLabs account")
        chosen = ElevenLabsVoice(
            body.voice_id, body.model_id, body.stability, body.similarity_boost, body.speed
        )
    elif body.voice_id is not None:
        raise HTTPException(422, "voice_id is for ElevenLabs voices (provider: elevenlabs)")
    if not await tenants.set_elevenlabs_voice(await ctx.db(), member.tenant_id, chosen):
        raise HTTPException(404, "this tenant has no agent")
    await apply_to_calls(ctx, member.tenant_id)
    return body.model_copy(update={"own_key": snapshot.elevenlabs_api_key is not None})


@router.put("/agent/voice/key", status_code=204)
async def set_key(body: VoiceKey, member: TenantEditor, ctx: Ctx) -> None:
    """Store the tenant's own ElevenLabs key (checked with ElevenLabs first), or null to speak
    with the platform's key again."""
    sealed = None
    if body.api_key is not None:
        try:
            await voice_catalog.voices(ctx.config.elevenlabs_base_url, body.api_key)
        except voice_catalog.CatalogError as exc:
            if exc.retryable:
                raise HTTPException(502, f"{exc} - try again later") from None
            raise HTTPException(422, "ElevenLabs refused this key") from None
        sealed = _keys(ctx.config).seal(body.api_key)
    if not await tenants.set_elevenlabs_key(await ctx.db(), member.tenant_id, sealed):
        raise HTTPException(404, "this tenant has no agent")
    await apply_to_calls(ctx, member.tenant_id)
