"""Schemathesis against the admin API's own OpenAPI document: every operation, with generated
valid and invalid inputs (bounded examples), logged in as a tenant owner (or a platform admin
for the platform routes), must never answer with a server error, and its documented responses
must match their schemas.

The API runs in a real uvicorn server on 127.0.0.1 in a thread with its own event loop (the
app's database pool lives there), against the session's Postgres. Logging out is left out: it
would end the session the rest of the run uses (test_admin_auth covers it).
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error, response_schema_conformance

from admin_api.app import build_app
from admin_api.auth import mint_access, new_refresh
from admin_api.context import WebhookContext
from bench.admin_api import NullGateway
from engine.config import EngineConfig
from engine.sim.elevenlabs import ElevenLabsSimulator
from engine.tokens import KeyRing
from memory import tenant_admin, users
from memory.audit import SYSTEM
from memory.db import create_pool
from memory.tenant_admin import TenantSpec
from memory.users import AdminUser, NewUser
from tests.conftest import PgUrls
from tests.integration.admin_harness import PASSWORD, new_email, new_number

EXAMPLES = 12
CHECKS = [not_a_server_error, response_schema_conformance]


@dataclass(frozen=True)
class LiveApi:
    base_url: str
    owner_token: str
    platform_token: str


async def _seed(app_url: str, ring: KeyRing) -> tuple[str, str]:
    from admin_api.passwords import Passwords

    pool = await create_pool(app_url, min_size=1, max_size=2)
    try:
        password = await Passwords().hash(PASSWORD)
        tenant = await tenant_admin.create_tenant(
            pool, TenantSpec("Fuzzed Agency", "America/New_York", 5, {}, (new_number(),)), SYSTEM
        )

        async def token(user: AdminUser) -> str:
            _, digest = new_refresh(user.tenant_id)
            session = await users.open_session(pool, user, digest, session_s=3600, refresh_s=3600)
            return mint_access(
                ring,
                user_id=user.user_id,
                tenant_id=user.tenant_id,
                role=user.role,
                session_id=session,
                ttl_s=3600,
            )

        owner = await users.create_user(
            pool, NewUser(tenant.tenant_id, new_email("fuzz"), "owner", password), SYSTEM
        )
        platform = await users.create_user(
            pool, NewUser(None, new_email("fuzzplatform"), "platform_admin", password), SYSTEM
        )
        return await token(owner), await token(platform)
    finally:
        await pool.close()


@pytest.fixture(scope="module")
def live_api(
    pg_urls: PgUrls, jwt_secret: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveApi]:
    recordings: Path = tmp_path_factory.mktemp("fuzz-recordings")
    with socket.socket() as probe:  # a free port for the ElevenLabs simulator
        probe.bind(("127.0.0.1", 0))
        voices_port = probe.getsockname()[1]
    config = EngineConfig(
        app_database_url=pg_urls.app,
        jwt_secret=jwt_secret,
        recordings_dir=str(recordings),
        elevenlabs_base_url=f"http://127.0.0.1:{voices_port}",  # it knows no key: all refused
    )
    owner_token, platform_token = asyncio.run(_seed(pg_urls.app, KeyRing.single(jwt_secret)))
    ctx = WebhookContext(config, NullGateway())
    server = uvicorn.Server(uvicorn.Config(build_app(ctx), log_level="warning", lifespan="off"))
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]

    async def serve() -> None:
        voices = ElevenLabsSimulator(api_keys=set())
        await voices.start(port=voices_port)
        try:
            await server.serve(sockets=[sock])
        finally:
            await ctx.close()
            await voices.stop()

    thread = threading.Thread(target=asyncio.run, args=(serve(),), daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    try:
        yield LiveApi(f"http://127.0.0.1:{port}", owner_token, platform_token)
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def _fuzz(operation: Any, mode: GenerationMode, live_api: LiveApi, failures: list[str]) -> int:
    """Run `EXAMPLES` generated cases of one operation; failures are collected, not raised."""
    platform = operation.path.startswith(("/tenants", "/platform"))
    token = live_api.platform_token if platform else live_api.owner_token
    ran = 0

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.explicit, Phase.generate],
    )
    def run(case: Any) -> None:
        nonlocal ran
        ran += 1
        response = case.call(
            base_url=f"{live_api.base_url}/api/v1",
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )
        case.validate_response(response, checks=CHECKS)

    try:
        run()
    except (Exception, BaseExceptionGroup) as exc:  # the shrunk failure, with its curl line
        failures.append(f"{operation.method.upper()} {operation.path} [{mode.value}]: {exc}")
    return ran


def test_no_server_errors_and_responses_match_the_spec(live_api: LiveApi) -> None:
    schema = schemathesis.openapi.from_url(f"{live_api.base_url}/api/v1/openapi.json")
    operations = [cast(Any, result).ok() for result in schema.get_all_operations()]
    assert len(operations) >= 35
    failures: list[str] = []
    cases = 0
    began = time.monotonic()
    try:
        for operation in operations:
            if operation.path == "/auth/logout":
                continue
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                cases += _fuzz(operation, mode, live_api, failures)
    finally:  # the platform's settings are shared by every later test's tenants
        reset = httpx.put(
            f"{live_api.base_url}/api/v1/platform/settings",
            headers={"Authorization": f"Bearer {live_api.platform_token}"},
            json={"ai_disclosure_mandatory": False},
            timeout=30,
        )
        assert reset.status_code == 200, reset.text
    assert failures == [], "\n".join(failures)
    assert cases > 300, cases
    assert time.monotonic() - began < 150
