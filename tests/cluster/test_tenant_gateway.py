"""The ingress replica's tenant gateway on real Ray: warming it (as a replica does before it
serves) starts each tenant's actor and reaches it once, so no first webhook pays for that."""

from __future__ import annotations

import uuid

import asyncpg
import pytest
import ray

from actors.control_actors import RayTenantGateway
from actors.ray_runtime import NAMESPACE
from engine.cli.runtime import Engine
from engine.secret_box import TWILIO_LABEL, SecretBox
from memory import tenants


async def test_warming_starts_and_reaches_each_tenants_actor(
    ray_engine: Engine, app_pool: asyncpg.Pool
) -> None:
    tenant_id = await tenants.create_tenant(
        app_pool,
        tenants.NewTenant(
            name="Warm Gateway Agency",
            numbers=("+1555" + str(uuid.uuid4().int)[:7],),
            twilio_auth_token="warm-gateway-token",
        ),
        tokens=SecretBox(ray_engine.config.jwt_secret, TWILIO_LABEL),
    )
    name = f"tenant:{tenant_id}"
    with pytest.raises(ValueError, match="Failed to look up actor"):
        ray.get_actor(name, namespace=NAMESPACE)  # nothing has asked for it yet

    await RayTenantGateway(ray_engine.config).warm([tenant_id])

    health = await ray.get_actor(name, namespace=NAMESPACE).check_health.remote()
    assert (health["tenant_id"], health["loaded"]) == (tenant_id, True)
