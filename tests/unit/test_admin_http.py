"""The admin API's HTTP edge without a database: body limits, malformed JSON, missing and
bad tokens, security headers, the OpenAPI document and docs page."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from admin_api.app import build_app
from admin_api.auth import mint_access
from admin_api.context import WebhookContext
from admin_api.middleware import MAX_BODY_BYTES
from admin_api.passwords import HashParams, Passwords
from admin_api.state import AdminState
from engine.config import EngineConfig
from engine.tokens import KeyRing

SECRET = "j" * 48


class NoGateway:
    async def admit(self, *args: Any) -> Any:
        raise AssertionError("unused")

    resume = validate = release = reload = fetch_recordings = delete_recording = admit_test = admit
    return_caller = queue_wait = queue_left = admit
    pool_stats = admit


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    config = EngineConfig(app_database_url="postgresql://nowhere/none", jwt_secret=SECRET)
    ctx = WebhookContext(config, NoGateway())
    state = AdminState(config, passwords=Passwords(HashParams(1, 8 * 1024, 1)))
    app = build_app(ctx, state)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as http:
        yield http
    await ctx.close()


async def test_oversize_bodies_are_413_before_parsing(client: httpx.AsyncClient) -> None:
    big = b'{"email": "' + b"a" * MAX_BODY_BYTES + b'"}'
    declared = await client.post(
        "/api/v1/auth/login", content=big, headers={"content-type": "application/json"}
    )
    assert declared.status_code == 413
    assert "over" in declared.json()["detail"]

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(MAX_BODY_BYTES // 1024 + 2):
            yield b"x" * 1024

    chunked = await client.post(
        "/api/v1/auth/login", content=chunks(), headers={"content-type": "application/json"}
    )
    assert chunked.status_code == 413


async def test_malformed_json_is_400_and_wrong_types_are_422(client: httpx.AsyncClient) -> None:
    bad = await client.post(
        "/api/v1/auth/login", content=b'{"email": ', headers={"content-type": "application/json"}
    )
    assert bad.status_code == 400
    assert bad.json()["detail"] == "request body is not valid JSON"
    wrong = await client.post("/api/v1/auth/login", json={"email": 5, "password": ["x"]})
    assert wrong.status_code == 422
    body = wrong.json()
    assert "body.email" in body["detail"]
    assert {tuple(e["loc"]) for e in body["errors"]} >= {("body", "email"), ("body", "password")}
    assert "input" not in body["errors"][0]  # the rejected value is never echoed back


async def test_missing_and_bad_tokens_are_401(client: httpx.AsyncClient) -> None:
    missing = await client.get("/api/v1/agent")
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"] == "Bearer"
    garbage = await client.get("/api/v1/agent", headers={"Authorization": "Bearer garbage"})
    assert garbage.status_code == 401
    other_key = mint_access(
        KeyRing.single("k" * 48),
        user_id="9a3b1c2d-0000-4000-8000-000000000001",
        tenant_id="9a3b1c2d-0000-4000-8000-000000000002",
        role="owner",
        session_id="9a3b1c2d-0000-4000-8000-000000000003",
        ttl_s=900,
    )
    forged = await client.get("/api/v1/agent", headers={"Authorization": f"Bearer {other_key}"})
    assert forged.status_code == 401
    expired = mint_access(
        KeyRing.single(SECRET),
        user_id="9a3b1c2d-0000-4000-8000-000000000001",
        tenant_id="9a3b1c2d-0000-4000-8000-000000000002",
        role="owner",
        session_id="9a3b1c2d-0000-4000-8000-000000000003",
        ttl_s=-60,
    )
    late = await client.get("/api/v1/agent", headers={"Authorization": f"Bearer {expired}"})
    assert late.status_code == 401
    assert late.json()["detail"] == "invalid or expired token"


async def test_security_headers_and_docs(client: httpx.AsyncClient) -> None:
    spec = await client.get("/api/v1/openapi.json")
    assert spec.status_code == 200
    assert spec.headers["cache-control"] == "no-store"
    assert spec.headers["x-frame-options"] == "DENY"
    paths = spec.json()["paths"]
    assert "/auth/login" in paths
    assert "/agent/preview" in paths
    assert not any(p.startswith("/twilio") for p in paths)  # webhooks are not in the spec
    assert spec.json()["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    docs = await client.get("/api/v1/docs")
    assert docs.status_code == 200
    assert "docs/static/docs.js" in docs.text  # which loads openapi.json (test_ops_access)


async def test_root_app_keeps_webhooks_out_of_the_admin_prefix(client: httpx.AsyncClient) -> None:
    assert (await client.get("/openapi.json")).status_code == 404
    assert (await client.get("/api/v1/nothing-here")).status_code == 404
