"""Tenant, agent-config and phone-number queries. I/O: asyncpg, inside tenant transactions.

A tenant's Twilio auth token is stored sealed (engine.secret_box, TWILIO_LABEL): writing one
needs the `SecretBox`, and a snapshot carries it opened only when the reader passes its box.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass

import asyncpg
import structlog

from engine.business_hours import OfficeHours
from engine.config import DtmfAction, ElevenLabsVoice, TenantConfig, TransferRule, VadConfig
from engine.secret_box import TWILIO_LABEL, SecretBox, SecretBoxError
from engine.urgent_claims import UrgentClaims
from memory import tenant_tools
from memory.db import acquire, tenant_tx
from memory.errors import Duplicate
from memory.overflow_settings import overflow_value
from memory.verification import policy_from_json
from prompts.disclosure import disclosure_required

log = structlog.get_logger(__name__)

_RESOLVE = "SELECT resolve_number($1)"

_INSERT_TENANT = """
INSERT INTO tenants (tenant_id, name, time_zone, max_concurrent_calls, twilio_account_sid,
                     twilio_auth_token_box)
VALUES ($1, $2, $3, $4, $5, $6)
"""
_INSERT_AGENT = """
INSERT INTO agent_configs (tenant_id, agent_name, voice, greeting_new, greeting_returning,
                           vad, sliders, blocks, record_calls)
VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7::jsonb, $8::jsonb, $9)
"""
_INSERT_NUMBER = "INSERT INTO phone_numbers (e164, tenant_id) VALUES ($1, $2)"

_LOAD_CONFIG = """
SELECT t.tenant_id, t.name, t.status, t.time_zone, t.max_concurrent_calls, t.twilio_account_sid,
       t.twilio_auth_token_box, a.agent_name, a.voice, a.greeting_new, a.greeting_returning, a.vad,
       a.sliders, a.blocks, a.record_calls, a.version, a.transfer_rules, a.dtmf_actions,
       a.tools, a.max_call_seconds, a.silence_timeout_s, a.fallback_number,
       a.recording_consent, a.recording_notice, a.pii_redaction, a.spanish, a.verification,
       t.jurisdiction, t.ai_disclosure, a.elevenlabs_voice, t.elevenlabs_key_box,
       t.business_hours, a.urgent_claims, a.overflow,
       coalesce(p.ai_disclosure_mandatory, false) AS ai_disclosure_mandatory
FROM tenants t JOIN agent_configs a USING (tenant_id) LEFT JOIN platform_settings p ON true
WHERE t.tenant_id = $1
"""


@dataclass(frozen=True, slots=True)
class NewTenant:
    name: str
    numbers: tuple[str, ...]
    agent_name: str = "Ava"
    voice: str = "marin"
    greeting_new: str | None = None
    greeting_returning: str | None = None
    time_zone: str = "America/New_York"
    max_concurrent_calls: int = 10
    twilio_account_sid: str | None = None
    twilio_auth_token: str | None = None
    record_calls: bool = False


class UnsealedToken(ValueError):
    """A Twilio auth token given without the SecretBox to seal it: it is never stored plain."""


def seal_token(token: str | None, tokens: SecretBox | None) -> bytes | None:
    """The sealed form of a tenant's Twilio auth token (None stays None)."""
    if token is None:
        return None
    if tokens is None:
        raise UnsealedToken("a Twilio auth token is stored sealed: pass the tenant SecretBox")
    return tokens.seal(token)


def open_token(sealed: bytes | None, tokens: SecretBox | None) -> str | None:
    """The tenant's Twilio auth token, or None without one, without a box, or when the box
    cannot open it (a wrong or rotated key: logged, and calls are then refused as unsigned)."""
    if sealed is None or tokens is None:
        return None
    try:
        return tokens.open(sealed)
    except SecretBoxError:
        log.warning("twilio_token_unreadable")
        return None


def _open_voice_key(sealed: bytes | None, keys: SecretBox | None) -> str | None:
    if sealed is None or keys is None:
        return None
    try:
        return keys.open(sealed)
    except SecretBoxError:  # a rotated engine secret: the platform key speaks instead
        log.warning("elevenlabs_key_unreadable")
        return None


async def set_elevenlabs_key(pool: asyncpg.Pool, tenant_id: str, sealed: bytes | None) -> bool:
    """Store the tenant's own ElevenLabs key, sealed (None: use the platform's). False: no
    such tenant."""
    async with tenant_tx(pool, tenant_id) as conn:
        status = await conn.execute(
            "UPDATE tenants SET elevenlabs_key_box = $2 WHERE tenant_id = $1",
            uuid.UUID(tenant_id),
            sealed,
        )
    return bool(status.endswith(" 1"))


class NumberTaken(ValueError):
    """The phone number already belongs to a tenant."""


async def set_call_control(
    pool: asyncpg.Pool,
    tenant_id: str,
    *,
    transfer_rules: list[dict[str, str]] | None = None,
    dtmf_actions: dict[str, dict[str, str]] | None = None,
    max_call_seconds: int | None = None,
    silence_timeout_s: int | None = None,
    fallback_number: str | None = None,
) -> None:
    """Update the call-control settings that are given (None leaves a setting as it is)."""
    async with tenant_tx(pool, tenant_id) as conn:
        await conn.execute(
            """
            UPDATE agent_configs SET
                transfer_rules = coalesce($2::jsonb, transfer_rules),
                dtmf_actions = coalesce($3::jsonb, dtmf_actions),
                max_call_seconds = coalesce($4, max_call_seconds),
                silence_timeout_s = coalesce($5, silence_timeout_s),
                fallback_number = coalesce($6, fallback_number),
                version = version + 1, updated_at = now()
            WHERE tenant_id = $1
            """,
            uuid.UUID(tenant_id),
            transfer_rules,
            dtmf_actions,
            max_call_seconds,
            silence_timeout_s,
            fallback_number,
        )


async def set_elevenlabs_voice(
    pool: asyncpg.Pool, tenant_id: str, voice: ElevenLabsVoice | None
) -> bool:
    """Speak with `voice` (None: the model's own voice again). False: no such tenant."""
    value = (
        None
        if voice is None
        else {
            "voice_id": voice.voice_id,
            "model_id": voice.model_id,
            "stability": voice.stability,
            "similarity_boost": voice.similarity_boost,
            "speed": voice.speed,
        }
    )
    async with tenant_tx(pool, tenant_id) as conn:
        status = await conn.execute(
            "UPDATE agent_configs SET elevenlabs_voice = $2::jsonb, version = version + 1,"
            " updated_at = now() WHERE tenant_id = $1",
            uuid.UUID(tenant_id),
            value,
        )
    return bool(status.endswith(" 1"))


async def resolve_number(pool: asyncpg.Pool, number: str) -> str | None:
    """The tenant owning `number` (active tenants only), or None."""
    async with acquire(pool, timeout=5) as conn:
        value = await conn.fetchval(_RESOLVE, number)
    return str(value) if value is not None else None


async def active_tenants(pool: asyncpg.Pool) -> list[str]:
    """Ids of all active tenants (to start their actors ahead of their first call)."""
    async with acquire(pool, timeout=5) as conn:
        rows = await conn.fetch("SELECT active_tenants() AS tenant_id")
    return [str(r["tenant_id"]) for r in rows]


async def create_tenant(
    pool: asyncpg.Pool, new: NewTenant, *, tokens: SecretBox | None = None
) -> str:
    """Create the tenant; its Twilio auth token, if any, sealed with `tokens`."""
    sealed = seal_token(new.twilio_auth_token, tokens)
    tenant_id = str(uuid.uuid4())
    defaults = TenantConfig(tenant_id=tenant_id, name=new.name)
    try:
        async with tenant_tx(pool, tenant_id) as conn:
            await conn.execute(
                _INSERT_TENANT,
                uuid.UUID(tenant_id),
                new.name,
                new.time_zone,
                new.max_concurrent_calls,
                new.twilio_account_sid,
                sealed,
            )
            await conn.execute(
                _INSERT_AGENT,
                uuid.UUID(tenant_id),
                new.agent_name,
                new.voice,
                new.greeting_new or defaults.greeting_new,
                new.greeting_returning or defaults.greeting_returning,
                {},
                {},
                {},
                new.record_calls,
            )
            for number in new.numbers:
                await conn.execute(_INSERT_NUMBER, number, uuid.UUID(tenant_id))
    except Duplicate as exc:
        raise NumberTaken(f"a number in {list(new.numbers)} is already assigned") from exc
    return tenant_id


async def load_config(
    pool: asyncpg.Pool,
    tenant_id: str,
    *,
    tokens: SecretBox | None = None,
    voice_keys: SecretBox | None = None,
    tool_secrets: SecretBox | None = None,
) -> TenantConfig | None:
    """The tenant's current snapshot; None when it does not exist or is suspended. Its Twilio
    auth token is opened with `tokens`, its own ElevenLabs key with `voice_keys`, and its own
    tools come with their secrets opened with `tool_secrets` (without them the snapshot has
    none: previews need none)."""
    async with tenant_tx(pool, tenant_id) as conn:
        row = await conn.fetchrow(_LOAD_CONFIG, uuid.UUID(tenant_id))
        agency_tools = (
            await tenant_tools.tools_for_calls(conn, uuid.UUID(tenant_id), tool_secrets)
            if tool_secrets is not None and row is not None
            else ()
        )
    if row is None or row["status"] != "active":
        return None
    vad = row["vad"]
    sliders = row["sliders"]
    blocks = row["blocks"]
    rules = row["transfer_rules"]
    dtmf = row["dtmf_actions"]
    eleven = row["elevenlabs_voice"]
    return TenantConfig(
        tenant_id=str(row["tenant_id"]),
        name=row["name"],
        agent_name=row["agent_name"],
        voice=row["voice"],
        elevenlabs=ElevenLabsVoice(**eleven) if eleven else None,
        elevenlabs_api_key=_open_voice_key(row["elevenlabs_key_box"], voice_keys),
        greeting_new=row["greeting_new"],
        greeting_returning=row["greeting_returning"],
        time_zone=row["time_zone"],
        vad=VadConfig(**vad),
        sliders=tuple(sorted((str(k), int(v)) for k, v in sliders.items())),
        blocks=tuple(sorted((str(k), str(v)) for k, v in blocks.items())),
        max_concurrent_calls=row["max_concurrent_calls"],
        record_calls=row["record_calls"],
        recording_consent=row["recording_consent"],
        recording_notice=row["recording_notice"],
        jurisdiction=row["jurisdiction"],
        spanish=row["spanish"],
        pii_redaction=row["pii_redaction"],
        tools=tuple(str(t) for t in row["tools"]),
        agency_tools=agency_tools,
        transfer_rules=tuple(
            TransferRule(
                str(r["keyword"]),
                str(r["number"]),
                str(r.get("description", "")),
                "warm" if r.get("mode") == "warm" else "cold",
            )
            for r in rules
        ),
        dtmf_actions=tuple(
            sorted(
                (str(k), DtmfAction(v["action"], str(v.get("target", "")))) for k, v in dtmf.items()
            )
        ),
        max_call_seconds=row["max_call_seconds"],
        silence_timeout_s=row["silence_timeout_s"],
        fallback_number=row["fallback_number"],
        overflow=overflow_value(row["overflow"]),
        twilio_account_sid=row["twilio_account_sid"],
        twilio_auth_token=open_token(row["twilio_auth_token_box"], tokens),
        version=row["version"],
        hours=OfficeHours.from_json(row["business_hours"]),
        urgent=UrgentClaims.from_json(row["urgent_claims"]),
        verification=policy_from_json(row["verification"]),
        ai_disclosure_required=disclosure_required(
            policy=row["ai_disclosure"],
            jurisdiction=row["jurisdiction"],
            platform_mandatory=row["ai_disclosure_mandatory"],
        ),
    )


async def ensure_tenant(
    app_url: str,
    *,
    engine_secret: str,
    name: str,
    number: str,
    auth_token: str | None,
    **agent: object,
) -> tuple[str, str]:
    """(tenant_id, auth token) for `number`, creating the tenant when the number is free.
    Used by the demo and the benchmarks to provision their agency once."""
    from memory.db import create_pool

    tokens = SecretBox(engine_secret, TWILIO_LABEL)
    pool = await create_pool(app_url, min_size=1, max_size=2)
    try:
        tenant_id = await resolve_number(pool, number)
        if tenant_id is None:
            new = NewTenant(
                name=name,
                numbers=(number,),
                twilio_auth_token=auth_token or secrets.token_hex(16),
                **agent,  # type: ignore[arg-type]
            )
            tenant_id = await create_tenant(pool, new, tokens=tokens)
        config = await load_config(pool, tenant_id, tokens=tokens)
        if config is None or config.twilio_auth_token is None:
            raise ValueError(f"tenant for {number} has no Twilio auth token")
        return tenant_id, config.twilio_auth_token
    finally:
        await pool.close()
