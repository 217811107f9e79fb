"""The admin API for the agent's voice: the ElevenLabs account's voices listed through the
official SDK (from the simulator) and cached, a tenant's voice set and validated, the next
call's config carrying it; viewers read, only editors change."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from admin_api import voice_catalog
from engine.secret_box import ELEVENLABS_LABEL, SecretBox
from engine.sim.elevenlabs import ElevenLabsSimulator
from memory import tenants
from memory.db import tenant_tx
from tests.conftest import PgUrls
from tests.integration.admin_harness import API, AdminHarness, admin_harness

KEY = "admin-xi-key"
RACHEL = "21m00Tcm4TlvDq8ikWAM"


@pytest.fixture
async def sim() -> AsyncIterator[ElevenLabsSimulator]:
    voice_catalog.forget()
    async with ElevenLabsSimulator(api_keys={KEY}) as running:
        yield running


@pytest.fixture
async def hv(
    pg_urls: PgUrls,
    app_pool: asyncpg.Pool,
    jwt_secret: str,
    tmp_path: Path,
    sim: ElevenLabsSimulator,
) -> AsyncIterator[AdminHarness]:
    async with admin_harness(
        pg_urls.app, jwt_secret, app_pool, tmp_path, elevenlabs=(sim.base_url, KEY)
    ) as harness:
        yield harness


async def test_voices_are_listed_once_and_a_voice_is_set(
    hv: AdminHarness, sim: ElevenLabsSimulator
) -> None:
    tenant = await hv.tenant()
    listed = await hv.get("/agent/voices", tenant.owner_token)
    assert listed.status_code == 200, listed.text
    body = listed.json()
    assert "marin" in body["realtime"]
    assert RACHEL in {v["voice_id"] for v in body["elevenlabs"]}
    viewer = await hv.token_for(await hv.user(tenant.tenant_id, "viewer"))
    assert (await hv.get("/agent/voices", viewer)).status_code == 200
    assert sim.voice_requests == 1  # the second listing came from the cache

    assert (await hv.get("/agent/voice", tenant.owner_token)).json()["provider"] == "realtime"
    chosen = {"provider": "elevenlabs", "voice_id": RACHEL, "stability": 0.3, "speed": 1.1}
    put = await hv.client.put(
        f"{API}/agent/voice", headers=hv.auth(tenant.owner_token), json=chosen
    )
    assert put.status_code == 200, put.text
    got = (await hv.get("/agent/voice", tenant.owner_token)).json()
    assert got["voice_id"] == RACHEL
    assert got["stability"] == 0.3
    config = await tenants.load_config(hv.pool, tenant.tenant_id)
    assert config is not None
    assert config.elevenlabs is not None
    assert config.elevenlabs.voice_id == RACHEL
    assert config.elevenlabs.speed == 1.1

    back = await hv.client.put(
        f"{API}/agent/voice", headers=hv.auth(tenant.owner_token), json={"provider": "realtime"}
    )
    assert back.status_code == 200
    config = await tenants.load_config(hv.pool, tenant.tenant_id)
    assert config is not None
    assert config.elevenlabs is None


@pytest.mark.parametrize(
    "body",
    [
        {"provider": "elevenlabs"},  # no voice id
        {"provider": "elevenlabs", "voice_id": "not-in-the-account"},
        {"provider": "elevenlabs", "voice_id": RACHEL, "stability": 1.5},
        {"provider": "elevenlabs", "voice_id": RACHEL, "speed": 3},
        {"provider": "elevenlabs", "voice_id": RACHEL, "model_id": "eleven_v9"},
        {"provider": "realtime", "voice_id": RACHEL},
        {"provider": "azure"},
        {"provider": "elevenlabs", "voice_id": RACHEL, "unknown": 1},
    ],
)
async def test_a_bad_voice_is_refused_and_changes_nothing(
    hv: AdminHarness, body: dict[str, object]
) -> None:
    tenant = await hv.tenant()
    put = await hv.client.put(f"{API}/agent/voice", headers=hv.auth(tenant.owner_token), json=body)
    assert put.status_code == 422, put.text
    assert (await hv.get("/agent/voice", tenant.owner_token)).json()["provider"] == "realtime"


async def test_viewers_cannot_change_the_voice(hv: AdminHarness) -> None:
    tenant = await hv.tenant()
    viewer = await hv.token_for(await hv.user(tenant.tenant_id, "viewer"))
    put = await hv.client.put(
        f"{API}/agent/voice",
        headers=hv.auth(viewer),
        json={"provider": "elevenlabs", "voice_id": RACHEL},
    )
    assert put.status_code == 403


async def test_a_refused_key_is_a_clear_error(
    pg_urls: PgUrls,
    app_pool: asyncpg.Pool,
    jwt_secret: str,
    tmp_path: Path,
    sim: ElevenLabsSimulator,
) -> None:
    async with admin_harness(
        pg_urls.app, jwt_secret, app_pool, tmp_path, elevenlabs=(sim.base_url, "revoked")
    ) as harness:
        tenant = await harness.tenant()
        listed = await harness.get("/agent/voices", tenant.owner_token)
    assert listed.status_code == 502
    assert "HTTP 401" in listed.json()["detail"]


async def test_a_tenants_own_key_is_write_only_sealed_and_checked(
    hv: AdminHarness, sim: ElevenLabsSimulator
) -> None:
    tenant = await hv.tenant()
    own = "tenant-own-xi-key"
    url, headers = f"{API}/agent/voice/key", hv.auth(tenant.owner_token)
    refused = await hv.client.put(url, headers=headers, json={"api_key": "not-a-valid-key"})
    assert refused.status_code == 422
    assert "refused" in refused.json()["detail"]
    sim.api_keys = {KEY, own}
    bad_bodies: tuple[dict[str, object], ...] = (
        {"api_key": "short"},
        {},
        {"api_key": own, "extra": 1},
        {"api_key": "clé-secrète-ünïcode"},
        {"api_key": "has a space in it"},
    )
    for bad in bad_bodies:
        assert (await hv.client.put(url, headers=headers, json=bad)).status_code == 422
    assert (await hv.get("/agent/voice", tenant.owner_token)).json()["own_key"] is False
    stored = await hv.client.put(url, headers=headers, json={"api_key": own})
    assert stored.status_code == 204
    got = await hv.get("/agent/voice", tenant.owner_token)
    assert got.json()["own_key"] is True
    assert own not in got.text
    async with tenant_tx(hv.pool, tenant.tenant_id) as conn:  # RLS: the tenant's own row
        sealed = await conn.fetchval(
            "SELECT elevenlabs_key_box FROM tenants WHERE tenant_id = $1::uuid", tenant.tenant_id
        )
    assert sealed is not None
    assert own.encode() not in sealed
    box = SecretBox(hv.config.jwt_secret, ELEVENLABS_LABEL)
    config = await tenants.load_config(hv.pool, tenant.tenant_id, voice_keys=box)
    assert config is not None
    assert config.elevenlabs_api_key == own
    assert own not in repr(config)
    viewer = await hv.token_for(await hv.user(tenant.tenant_id, "viewer"))
    assert (
        await hv.client.put(url, headers=hv.auth(viewer), json={"api_key": own})
    ).status_code == 403
    cleared = await hv.client.put(url, headers=headers, json={"api_key": None})
    assert cleared.status_code == 204
    assert (await hv.get("/agent/voice", tenant.owner_token)).json()["own_key"] is False
