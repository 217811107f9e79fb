"""A tenant's agent settings as the admin API edits them. I/O: asyncpg.

The call path reads the same row through `memory.tenants.load_config` (a `TenantConfig` for the
tenant actor); this module reads and writes every editable column, including the ones 0004 added
(recording consent notice, PII redaction, retention). An update locks the row, applies a pure
`change` function to the current settings (which validates, raising ValueError to abort),
writes the result with `version + 1` and its audit entry, all in one transaction: two admins
saving at once cannot lose each other's changes.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from datetime import datetime
from typing import Any

import asyncpg

from memory import audit
from memory.audit import Actor
from memory.db import tenant_tx

_SELECT = """
SELECT agent_name, voice, greeting_new, greeting_returning, vad, sliders, blocks, record_calls,
       recording_consent, pii_redaction, retention_days, transfer_rules, dtmf_actions, tools,
       max_call_seconds, silence_timeout_s, fallback_number, spanish, keep_transcripts,
       recording_notice, version, updated_at
FROM agent_configs WHERE tenant_id = $1
"""
_UPDATE = """
UPDATE agent_configs SET
    agent_name = $2, voice = $3, greeting_new = $4, greeting_returning = $5, vad = $6::jsonb,
    sliders = $7::jsonb, blocks = $8::jsonb, record_calls = $9, recording_consent = $10,
    pii_redaction = $11, retention_days = $12, transfer_rules = $13::jsonb,
    dtmf_actions = $14::jsonb, tools = $15::jsonb, max_call_seconds = $16,
    silence_timeout_s = $17, fallback_number = $18, spanish = $19, keep_transcripts = $20,
    recording_notice = $21,
    version = version + 1, updated_at = now()
WHERE tenant_id = $1
RETURNING version, updated_at
"""

# Settings whose values are too long or personal for the audit log: recorded as "(changed)".
_OPAQUE_IN_AUDIT = frozenset({"greeting_new", "greeting_returning", "recording_consent", "blocks"})


@dataclass(frozen=True, slots=True)
class AgentSettings:
    agent_name: str
    voice: str
    greeting_new: str
    greeting_returning: str
    vad: dict[str, Any]
    sliders: dict[str, int]
    blocks: dict[str, str]
    record_calls: bool
    recording_consent: str
    pii_redaction: bool
    retention_days: int
    transfer_rules: list[dict[str, str]]
    dtmf_actions: dict[str, dict[str, str]]
    tools: list[str]
    max_call_seconds: int
    silence_timeout_s: int
    fallback_number: str | None
    spanish: bool
    keep_transcripts: bool
    recording_notice: str
    version: int
    updated_at: datetime


_EDITABLE = tuple(f.name for f in fields(AgentSettings) if f.name not in ("version", "updated_at"))


def _settings(row: asyncpg.Record) -> AgentSettings:
    values = {name: row[name] for name in (*_EDITABLE, "version", "updated_at")}
    return AgentSettings(**values)


def changed_fields(before: AgentSettings, after: AgentSettings) -> dict[str, Any]:
    """Field -> new value (or "(changed)") for what differs, for the audit log."""
    out: dict[str, Any] = {}
    for name in _EDITABLE:
        old, new = getattr(before, name), getattr(after, name)
        if old != new:
            out[name] = "(changed)" if name in _OPAQUE_IN_AUDIT else new
    return out


async def get_settings(pool: asyncpg.Pool, tenant_id: str) -> AgentSettings | None:
    async with tenant_tx(pool, tenant_id) as conn:
        row = await conn.fetchrow(_SELECT, uuid.UUID(tenant_id))
    return _settings(row) if row is not None else None


async def update_settings(
    pool: asyncpg.Pool,
    tenant_id: str,
    actor: Actor,
    change: Callable[[AgentSettings], AgentSettings],
    *,
    action: str = "agent.updated",
) -> AgentSettings | None:
    """Apply `change` to the locked current settings and store the result; None when the
    tenant has no agent row. ValueError from `change` aborts with nothing written."""
    tenant = uuid.UUID(tenant_id)
    async with tenant_tx(pool, tenant_id) as conn:
        row = await conn.fetchrow(_SELECT + " FOR UPDATE", tenant)
        if row is None:
            return None
        before = _settings(row)
        after = change(before)
        diff = changed_fields(before, after)
        if not diff:
            return before
        stored = await conn.fetchrow(
            _UPDATE,
            tenant,
            after.agent_name,
            after.voice,
            after.greeting_new,
            after.greeting_returning,
            after.vad,
            after.sliders,
            after.blocks,
            after.record_calls,
            after.recording_consent,
            after.pii_redaction,
            after.retention_days,
            after.transfer_rules,
            after.dtmf_actions,
            after.tools,
            after.max_call_seconds,
            after.silence_timeout_s,
            after.fallback_number,
            after.spanish,
            after.keep_transcripts,
            after.recording_notice,
        )
        assert stored is not None
        await audit.write(conn, tenant_id, actor, action, "agent", diff)
    return replace(after, version=stored["version"], updated_at=stored["updated_at"])


# One JSON setting of the agent written on its own (a resource of the admin API of its own).
_SET_JSON = {
    "urgent_claims": """
UPDATE agent_configs SET urgent_claims = $2::jsonb, version = version + 1, updated_at = now()
WHERE tenant_id = $1
""",
    "overflow": """
UPDATE agent_configs SET overflow = $2::jsonb, version = version + 1, updated_at = now()
WHERE tenant_id = $1
""",
}


async def set_json_setting(
    pool: asyncpg.Pool,
    tenant_id: str,
    column: str,
    stored: dict[str, Any],
    *,
    action: str,
    actor: Actor,
) -> bool:
    """Store `stored` in the agent's JSON `column` (a new version, audited as `action`);
    False when the tenant has no agent."""
    async with tenant_tx(pool, tenant_id) as conn:
        status = await conn.execute(_SET_JSON[column], uuid.UUID(tenant_id), stored)
        if not status.endswith(" 1"):
            return False
        await audit.write(conn, tenant_id, actor, action, None, stored)
    return True
