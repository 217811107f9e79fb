"""The admin API while Postgres is down: every request that needs the database answers 503 with
Retry-After (as documented), never a 500, and the API works again once the database is back.

Two ways the database goes away: the server stops while the replica's pool holds connections
(links drop, new ones are refused: a TCP proxy between them), and a replica that starts while
the embedded server is stopped (its Unix socket is missing: asyncpg raises FileNotFoundError).
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote, urlsplit

import asyncpg

from tests.conftest import PgUrls
from tests.faults.tcp_proxy import pg_proxy, via_proxy
from tests.integration.admin_harness import AdminHarness, admin_harness, new_email

PASSWORD_GUESS = "not-the-password-123"


async def _down(h: AdminHarness, tenant_id: str, token: str) -> None:
    for response in (
        await h.get(f"/tenants/{tenant_id}", h.platform_token),
        await h.get("/users", token),
        await h.get("/calls", token),
        await h.login(new_email(), PASSWORD_GUESS),
    ):
        assert response.status_code == 503, (response.request.url, response.text)
        assert response.headers["retry-after"] == "2"
        assert response.json() == {"detail": "database unavailable; try again shortly"}


async def test_a_database_that_stops_answers_503_and_the_api_recovers(
    pg_urls: PgUrls, app_pool: asyncpg.Pool, jwt_secret: str, tmp_path: Path
) -> None:
    async with (
        pg_proxy(pg_urls.app) as proxy,
        admin_harness(via_proxy(pg_urls.app, proxy), jwt_secret, app_pool, tmp_path) as h,
    ):
        tenant = await h.tenant()
        assert (await h.get("/users", tenant.owner_token)).status_code == 200

        proxy.refusing = True  # the server is gone: live links drop, new ones are cut at once
        proxy.drop_all()
        await _down(h, tenant.tenant_id, tenant.owner_token)

        proxy.refusing = False
        assert (await h.get("/users", tenant.owner_token)).status_code == 200
        detail = await h.get(f"/tenants/{tenant.tenant_id}", h.platform_token)
        assert detail.status_code == 200


async def test_a_replica_started_while_the_database_is_stopped_answers_503(
    pg_urls: PgUrls, app_pool: asyncpg.Pool, jwt_secret: str, tmp_path: Path
) -> None:
    # The embedded server listens on a Unix socket only; stopped, its socket file is gone.
    stopped = tmp_path / "pg-stopped"
    stopped.mkdir()
    parts = urlsplit(pg_urls.app)
    url = f"postgresql://{quote(parts.username or '')}@{parts.path}?host={stopped}"
    async with admin_harness(url, jwt_secret, app_pool, tmp_path / "recordings") as h:
        tenant = await h.tenant()
        await _down(h, tenant.tenant_id, tenant.owner_token)
