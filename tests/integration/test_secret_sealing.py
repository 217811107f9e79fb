"""Tenant secrets at rest, against real Postgres: a tenant's Twilio auth token is stored sealed
(Postgres never holds it in plaintext, and refuses a plaintext write), a token left in
plaintext by an earlier version is sealed by the migration step, and rotating the engine secret
re-seals every sealed secret (Twilio tokens, ElevenLabs keys, webhook secrets, Notion tokens,
agency tools' secrets)."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import replace

import asyncpg
import pytest

from engine.secret_box import (
    ELEVENLABS_LABEL,
    NOTION_LABEL,
    TOOL_LABEL,
    TWILIO_LABEL,
    WEBHOOK_LABEL,
    SecretBox,
)
from memory import notion_links, outbox_admin, tenant_tools, tenants
from memory.audit import SYSTEM
from memory.db import tenant_tx
from memory.embedded import DATABASE
from memory.errors import Rejected
from memory.migrate import migrate
from memory.secret_seal import reseal
from memory.tenant_tools import ToolDraft
from tests.conftest import PgUrls
from tests.memory_support import phone

TOKEN = "twilio-auth-token-" + "7" * 14


def _box(secret: str, label: str = TWILIO_LABEL) -> SecretBox:
    return SecretBox(secret, label)


async def _stored(pool: asyncpg.Pool, tenant_id: str) -> asyncpg.Record:
    async with tenant_tx(pool, tenant_id) as conn:
        row = await conn.fetchrow(
            "SELECT twilio_auth_token, twilio_auth_token_box FROM tenants WHERE tenant_id = $1",
            uuid.UUID(tenant_id),
        )
    assert row is not None
    return row


async def _tenant(pool: asyncpg.Pool, box: SecretBox) -> str:
    new = tenants.NewTenant(name="Sealed Agency", numbers=(phone(),), twilio_auth_token=TOKEN)
    return await tenants.create_tenant(pool, new, tokens=box)


async def test_a_twilio_token_is_stored_sealed_and_opens_only_with_its_key(
    app_pool: asyncpg.Pool, jwt_secret: str
) -> None:
    tenant_id = await _tenant(app_pool, _box(jwt_secret))
    row = await _stored(app_pool, tenant_id)
    assert row["twilio_auth_token"] is None
    assert TOKEN.encode() not in row["twilio_auth_token_box"]
    opened = await tenants.load_config(app_pool, tenant_id, tokens=_box(jwt_secret))
    assert opened is not None
    assert opened.twilio_auth_token == TOKEN
    other = await tenants.load_config(app_pool, tenant_id, tokens=_box("another-" + "k" * 40))
    assert other is not None
    assert other.twilio_auth_token is None  # a wrong key opens nothing
    webhook = await tenants.load_config(app_pool, tenant_id, tokens=_box(jwt_secret, WEBHOOK_LABEL))
    assert webhook is not None
    assert webhook.twilio_auth_token is None  # nor does another kind of secret's key
    preview = await tenants.load_config(app_pool, tenant_id)
    assert preview is not None
    assert preview.twilio_auth_token is None


async def test_a_token_without_its_box_is_refused_and_nothing_is_written(
    app_pool: asyncpg.Pool,
) -> None:
    number = phone()
    with pytest.raises(tenants.UnsealedToken):
        await tenants.create_tenant(
            app_pool,
            tenants.NewTenant(name="Careless", numbers=(number,), twilio_auth_token=TOKEN),
        )
    assert await tenants.resolve_number(app_pool, number) is None


async def test_postgres_refuses_a_plaintext_token(app_pool: asyncpg.Pool, jwt_secret: str) -> None:
    tenant_id = await _tenant(app_pool, _box(jwt_secret))
    with pytest.raises(Rejected):  # the check constraint, as the store reports it
        async with tenant_tx(app_pool, tenant_id) as conn:
            await conn.execute(
                "UPDATE tenants SET twilio_auth_token = 'plain' WHERE tenant_id = $1",
                uuid.UUID(tenant_id),
            )


async def test_migrate_seals_a_token_an_earlier_version_left_in_plaintext(
    pg_urls: PgUrls, app_pool: asyncpg.Pool, jwt_secret: str
) -> None:
    tenant_id = await tenants.create_tenant(
        app_pool, tenants.NewTenant(name="Legacy Agency", numbers=(phone(),))
    )
    legacy = await asyncpg.connect(pg_urls.superuser, database=DATABASE)
    try:  # the row as a version before 0017 wrote it
        async with legacy.transaction():
            await legacy.execute("ALTER TABLE tenants DROP CONSTRAINT twilio_auth_token_sealed")
            await legacy.execute(
                "UPDATE tenants SET twilio_auth_token = $2 WHERE tenant_id = $1",
                uuid.UUID(tenant_id),
                TOKEN,
            )
            await legacy.execute(
                "ALTER TABLE tenants ADD CONSTRAINT twilio_auth_token_sealed "
                "CHECK (twilio_auth_token IS NULL) NOT VALID"
            )
    finally:
        await legacy.close()
    assert (await _stored(app_pool, tenant_id))["twilio_auth_token"] == TOKEN
    assert await migrate(pg_urls.owner, engine_secret=jwt_secret) == []
    row = await _stored(app_pool, tenant_id)
    assert row["twilio_auth_token"] is None
    config = await tenants.load_config(app_pool, tenant_id, tokens=_box(jwt_secret))
    assert config is not None
    assert config.twilio_auth_token == TOKEN


async def test_rotating_the_engine_secret_reseals_every_sealed_secret(
    pg_urls: PgUrls, app_pool: asyncpg.Pool
) -> None:
    old, new = secrets.token_urlsafe(48), secrets.token_urlsafe(48)
    tenant_id = await _tenant(app_pool, _box(old))
    endpoint = await outbox_admin.create_endpoint(
        app_pool,
        tenant_id,
        "http://127.0.0.1:9/hook",
        _box(old, WEBHOOK_LABEL).seal("whsec-1"),
        [],
        SYSTEM,
    )
    await notion_links.set_link(
        app_pool, tenant_id, _box(old, NOTION_LABEL).seal("ntn-1"), ("a", "b", "c", "d"), SYSTEM
    )
    tool = ToolDraft("policy_status", "Look it up.", {"type": "object"}, "https://a.example/", None)
    sealed_tool = replace(tool, sealed_secret=_box(old, TOOL_LABEL).seal("tool-secret-1"))
    await tenant_tools.create_tool(app_pool, tenant_id, sealed_tool, SYSTEM)
    voice_key = _box(old, ELEVENLABS_LABEL).seal("sk-eleven-1")
    assert await tenants.set_elevenlabs_key(app_pool, tenant_id, voice_key)
    first = await reseal(pg_urls.owner, previous_secret=old, engine_secret=new)
    assert first.resealed == 5
    config = await tenants.load_config(
        app_pool,
        tenant_id,
        tokens=_box(new),
        voice_keys=_box(new, ELEVENLABS_LABEL),
        tool_secrets=_box(new, TOOL_LABEL),
    )
    assert config is not None
    assert config.twilio_auth_token == TOKEN
    assert config.elevenlabs_api_key == "sk-eleven-1"
    assert [t.secret for t in config.agency_tools] == ["tool-secret-1"]
    async with tenant_tx(app_pool, tenant_id) as conn:
        hook = await conn.fetchval(
            "SELECT secret_box FROM webhook_endpoints WHERE endpoint_id = $1",
            uuid.UUID(endpoint.endpoint_id),
        )
    assert _box(new, WEBHOOK_LABEL).open(hook) == "whsec-1"
    assert not _box(old, WEBHOOK_LABEL).opens(hook)
    link = await notion_links.get_link(app_pool, tenant_id)
    assert link is not None
    assert _box(new, NOTION_LABEL).open(link.token_box) == "ntn-1"
    again = await reseal(pg_urls.owner, previous_secret=old, engine_secret=new)
    assert again.resealed == 0  # a rerun changes nothing
    assert again.current >= 5
