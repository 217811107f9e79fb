"""/metrics and the admin API's docs (the Swagger page, its assets and the OpenAPI document)
are not served to the internet: only to a client on the same host that came through no proxy,
or to one presenting NEUROSPHERE_OPS_TOKEN. The docs page works offline: every script, style
and image it loads is served by the engine itself, no inline script, no CDN; its sign-in is
the OAuth2 password flow against the admin API's token endpoint."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from admin_api.app import build_app
from admin_api.context import WebhookContext
from admin_api.passwords import HashParams, Passwords
from admin_api.state import AdminState
from engine.config import EngineConfig

SECRET = "j" * 48
OPS_TOKEN = "ops-" + "t" * 40
INTERNAL = ("/metrics", "/api/v1/docs", "/api/v1/openapi.json")


class NoGateway:
    async def admit(self, *args: Any) -> Any:
        raise AssertionError("unused")

    resume = validate = release = reload = fetch_recordings = delete_recording = admit_test = admit
    return_caller = queue_wait = queue_left = admit
    pool_stats = admit


def _app(ops_token: str | None) -> tuple[Any, WebhookContext]:
    config = EngineConfig(
        app_database_url="postgresql://nowhere/none", jwt_secret=SECRET, ops_token=ops_token
    )
    ctx = WebhookContext(config, NoGateway())
    state = AdminState(config, passwords=Passwords(HashParams(1, 8 * 1024, 1)))
    return build_app(ctx, state), ctx


@pytest.fixture
async def clients() -> AsyncIterator[dict[str, httpx.AsyncClient]]:
    app, ctx = _app(OPS_TOKEN)
    made = {
        name: httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app, client=(address, 40000)),
            base_url="http://testserver",
        )
        for name, address in (("local", "127.0.0.1"), ("remote", "203.0.113.9"), ("v6", "::1"))
    }
    yield made
    for client in made.values():
        await client.aclose()
    await ctx.close()


async def test_a_remote_client_gets_404(clients: dict[str, httpx.AsyncClient]) -> None:
    for path in (*INTERNAL, "/api/v1/docs/static/vendor/swagger-ui-bundle.js"):
        response = await clients["remote"].get(path)
        assert response.status_code == 404, path
        assert "neurosphere" not in response.text.lower()


async def test_a_local_client_through_a_proxy_gets_404(
    clients: dict[str, httpx.AsyncClient],
) -> None:
    for header in ("X-Forwarded-For", "Forwarded", "X-Real-IP"):
        for path in INTERNAL:
            response = await clients["local"].get(path, headers={header: "198.51.100.4"})
            assert response.status_code == 404, (header, path)


async def test_a_local_client_is_served(clients: dict[str, httpx.AsyncClient]) -> None:
    for name in ("local", "v6"):
        for path in INTERNAL:
            assert (await clients[name].get(path)).status_code == 200, (name, path)


async def test_the_ops_token_serves_any_client(clients: dict[str, httpx.AsyncClient]) -> None:
    remote = clients["remote"]
    for path in INTERNAL:
        good = await remote.get(path, headers={"Authorization": f"Bearer {OPS_TOKEN}"})
        assert good.status_code == 200, path
        bad = await remote.get(path, headers={"Authorization": f"Bearer {OPS_TOKEN}x"})
        assert bad.status_code == 404, path


async def test_without_an_ops_token_a_bearer_header_opens_nothing() -> None:
    app, ctx = _app(None)
    transport = httpx.ASGITransport(app=app, client=("203.0.113.9", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as remote:
        response = await remote.get("/metrics", headers={"Authorization": "Bearer "})
        assert response.status_code == 404
    await ctx.close()


async def test_the_public_routes_are_not_affected(clients: dict[str, httpx.AsyncClient]) -> None:
    login = await clients["remote"].post("/api/v1/auth/login", json={})
    assert login.status_code == 422  # reached the admin API


async def test_the_docs_page_loads_only_its_own_assets(
    clients: dict[str, httpx.AsyncClient],
) -> None:
    local = clients["local"]
    page = await local.get("/api/v1/docs")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp
    assert "unsafe-inline" not in csp.split("style-src")[0]  # no inline script allowed
    assert "connect-src 'self'" in csp
    assert "<script>" not in page.text  # every script is a file
    refs = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert len(refs) >= 3
    for ref in refs:
        assert "//" not in ref, ref  # relative: this host only
        url = httpx.URL("http://testserver/api/v1/docs").join(ref)
        asset = await local.get(url.path)
        assert asset.status_code == 200, ref
        assert len(asset.content) > 100, ref
    bundle = await local.get("/api/v1/docs/static/vendor/swagger-ui-bundle.js")
    assert bundle.headers["content-type"].startswith("text/javascript")
    init = await local.get("/api/v1/docs/static/docs.js")
    assert "openapi.json" in init.text
    assert "validatorUrl: null" in init.text  # no badge fetched from swagger.io
    missing = await local.get("/api/v1/docs/static/nothing.js")
    assert missing.status_code == 404


async def test_the_spec_offers_the_password_flow(clients: dict[str, httpx.AsyncClient]) -> None:
    spec = (await clients["local"].get("/api/v1/openapi.json")).json()
    schemes = spec["components"]["securitySchemes"]
    assert schemes["HTTPBearer"]["scheme"] == "bearer"  # a pasted token still works
    flow = schemes["PasswordFlow"]["flows"]["password"]
    assert flow["tokenUrl"] == "/api/v1/auth/token"
    me = spec["paths"]["/auth/me"]["get"]["security"]
    assert {"PasswordFlow": []} in me
    assert {"HTTPBearer": []} in me
    assert "/auth/token" in spec["paths"]
