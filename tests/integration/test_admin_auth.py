"""Admin login, tokens and sessions against real Postgres: no enumeration, lockout with
growing delays, rate limits, refresh rotation and reuse detection, and every way a session
ends (logout, password change, disable, suspension)."""

from __future__ import annotations

import statistics
import time
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg

from admin_api.passwords import HashParams, Passwords
from admin_api.state import AdminState, AuthPolicy
from memory import users
from memory.audit import SYSTEM
from memory.users import LoginRef, NewUser
from tests.conftest import PgUrls
from tests.integration.admin_harness import (
    PASSWORD,
    AdminHarness,
    admin_harness,
    new_email,
    shared_passwords,
)


async def _with_policy(
    pg_urls: PgUrls, app_pool: asyncpg.Pool, jwt_secret: str, tmp_path: Path, **policy: int
) -> AsyncIterator[AdminHarness]:
    from engine.config import EngineConfig

    config = EngineConfig(app_database_url=pg_urls.app, jwt_secret=jwt_secret)
    state = AdminState(config, passwords=shared_passwords(), policy=AuthPolicy(**policy))
    async with admin_harness(pg_urls.app, jwt_secret, app_pool, tmp_path, admin_state=state) as h:
        yield h


async def test_login_gives_tokens_that_work(h: AdminHarness) -> None:
    tenant = await h.tenant()
    response = await h.login(tenant.owner.email.upper())  # emails are case-insensitive
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 900
    assert body["refresh_token"].startswith(f"nsr1.{tenant.tenant_id}.")
    assert body["user"]["role"] == "owner"
    me = await h.get("/auth/me", body["access_token"])
    assert me.status_code == 200
    assert me.json()["email"] == tenant.owner.email
    assert (await h.get("/agent", body["access_token"])).status_code == 200


async def test_platform_admin_logs_in_with_platform_scope(h: AdminHarness) -> None:
    platform = await h.user(None, "platform_admin")
    body = (await h.login(platform.email)).json()
    assert body["refresh_token"].startswith("nsr1.platform.")
    assert (await h.get("/tenants", body["access_token"])).status_code == 200
    assert (await h.get("/agent", body["access_token"])).status_code == 403


async def test_no_user_enumeration(h: AdminHarness) -> None:
    tenant = await h.tenant()
    disabled = await h.user(tenant.tenant_id, "viewer")
    await users.update_user(h.pool, tenant.tenant_id, disabled.user_id, SYSTEM, disabled=True)
    unknown = new_email("nobody")
    answers = [
        await h.login(tenant.owner.email, "wrong password entirely"),
        await h.login(unknown, "wrong password entirely"),
        await h.login(disabled.email, PASSWORD),  # right password, disabled account
    ]
    assert {r.status_code for r in answers} == {401}
    assert len({r.text for r in answers}) == 1

    # An unknown email costs a password verification, like a known one.
    known_ms: list[float] = []
    unknown_ms: list[float] = []
    for _ in range(3):
        for email, sink in ((tenant.owner.email, known_ms), (unknown, unknown_ms)):
            began = time.perf_counter()
            response = await h.login(email, "still the wrong password")
            sink.append((time.perf_counter() - began) * 1000)
            assert response.status_code == 401
    known, missing = statistics.median(known_ms), statistics.median(unknown_ms)
    assert missing > 50  # argon2id ran (parameters take ~160 ms here)
    assert abs(known - missing) < 0.5 * max(known, missing), (known_ms, unknown_ms)


async def test_lockout_grows_and_treats_unknown_emails_the_same(
    pg_urls: PgUrls, app_pool: asyncpg.Pool, jwt_secret: str, tmp_path: Path
) -> None:
    async for h in _with_policy(
        pg_urls, app_pool, jwt_secret, tmp_path, lock_after=3, base_lock_s=30
    ):
        tenant = await h.tenant()
        unknown = new_email("ghost")
        for email in (tenant.owner.email, unknown):
            codes = [(await h.login(email, "wrong wrong wrong")).status_code for _ in range(3)]
            assert codes == [401, 401, 401]
            locked = await h.login(email, "wrong wrong wrong")
            assert locked.status_code == 429
            assert 25 <= int(locked.headers["retry-after"]) <= 30
        # Even the right password waits out the lock.
        assert (await h.login(tenant.owner.email)).status_code == 429
        # The lock lapses; the next failure locks for twice as long.
        async with app_pool.acquire() as conn:
            await conn.execute("UPDATE login_throttle SET locked_until = now() - interval '1s'")
        assert (await h.login(tenant.owner.email, "wrong wrong wrong")).status_code == 401
        doubled = await h.login(tenant.owner.email)
        assert doubled.status_code == 429
        assert 55 <= int(doubled.headers["retry-after"]) <= 60
        # After the lock, a success clears the count.
        async with app_pool.acquire() as conn:
            await conn.execute("UPDATE login_throttle SET locked_until = now() - interval '1s'")
        assert (await h.login(tenant.owner.email)).status_code == 200
        assert (await h.login(tenant.owner.email, "wrong wrong wrong")).status_code == 401
        assert (await h.login(tenant.owner.email)).status_code == 200


async def test_login_rate_limited_per_ip_and_per_account(
    pg_urls: PgUrls, app_pool: asyncpg.Pool, jwt_secret: str, tmp_path: Path
) -> None:
    async for h in _with_policy(
        pg_urls, app_pool, jwt_secret, tmp_path, login_per_ip=3, login_per_account=100
    ):
        codes = [(await h.login(new_email(), "wrong wrong wrong")).status_code for _ in range(4)]
        assert codes == [401, 401, 401, 429]
    async for h in _with_policy(
        pg_urls, app_pool, jwt_secret, tmp_path, login_per_ip=100, login_per_account=2
    ):
        email = new_email()
        codes = [(await h.login(email, "wrong wrong wrong")).status_code for _ in range(3)]
        assert codes == [401, 401, 429]
        assert (await h.login(new_email(), "wrong wrong wrong")).status_code == 401


async def test_refresh_rotates_and_reuse_ends_the_session(h: AdminHarness) -> None:
    tenant = await h.tenant()
    first = (await h.login(tenant.owner.email)).json()
    rotated = await h.client.post(
        "/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]}
    )
    assert rotated.status_code == 200
    second = rotated.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert (await h.get("/auth/me", second["access_token"])).status_code == 200
    # The first refresh token again: a replay. The whole session ends.
    replay = await h.client.post(
        "/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]}
    )
    assert replay.status_code == 401
    assert (await h.get("/auth/me", second["access_token"])).status_code == 401
    again = await h.client.post(
        "/api/v1/auth/refresh", json={"refresh_token": second["refresh_token"]}
    )
    assert again.status_code == 401
    forged = await h.client.post(
        "/api/v1/auth/refresh", json={"refresh_token": f"nsr1.{tenant.tenant_id}." + "A" * 43}
    )
    assert forged.status_code == 401
    # Refresh tokens are stored hashed, never as given.
    async with h.pool.acquire() as conn:
        stored = await conn.fetchval(
            "SELECT count(*) FROM refresh_tokens WHERE token_hash = $1",
            first["refresh_token"].encode(),
        )
    assert stored == 0


async def test_logout_ends_access_and_refresh(h: AdminHarness) -> None:
    tenant = await h.tenant()
    pair = (await h.login(tenant.owner.email)).json()
    other = (await h.login(tenant.owner.email)).json()
    assert (await h.post("/auth/logout", pair["access_token"])).status_code == 204
    assert (await h.get("/auth/me", pair["access_token"])).status_code == 401
    refresh = await h.client.post(
        "/api/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]}
    )
    assert refresh.status_code == 401
    assert (await h.get("/auth/me", other["access_token"])).status_code == 200


async def test_password_change_ends_every_session(h: AdminHarness) -> None:
    tenant = await h.tenant()
    pair = (await h.login(tenant.owner.email)).json()
    token = pair["access_token"]
    wrong = await h.post(
        "/auth/password", token, {"current_password": "nope nope nope", "new_password": "x" * 20}
    )
    assert wrong.status_code == 403
    weak = await h.post(
        "/auth/password", token, {"current_password": PASSWORD, "new_password": "Password1234"}
    )
    assert weak.status_code == 422
    assert "too common" in weak.json()["detail"]
    new_password = "an entirely new passphrase 42"
    changed = await h.post(
        "/auth/password", token, {"current_password": PASSWORD, "new_password": new_password}
    )
    assert changed.status_code == 204
    assert (await h.get("/auth/me", token)).status_code == 401
    assert (await h.get("/auth/me", tenant.owner_token)).status_code == 401
    assert (await h.login(tenant.owner.email)).status_code == 401
    assert (await h.login(tenant.owner.email, new_password)).status_code == 200


async def test_disabling_a_user_ends_their_sessions(h: AdminHarness) -> None:
    tenant = await h.tenant()
    staff = await h.user(tenant.tenant_id, "admin")
    staff_token = (await h.login(staff.email)).json()["access_token"]
    assert (await h.get("/agent", staff_token)).status_code == 200
    disabled = await h.patch(f"/users/{staff.user_id}", tenant.owner_token, {"disabled": True})
    assert disabled.status_code == 200
    assert disabled.json()["disabled"] is True
    assert (await h.get("/agent", staff_token)).status_code == 401
    assert (await h.login(staff.email)).status_code == 401
    enabled = await h.patch(f"/users/{staff.user_id}", tenant.owner_token, {"disabled": False})
    assert enabled.status_code == 200
    assert (await h.get("/agent", staff_token)).status_code == 401  # still ended
    assert (await h.login(staff.email)).status_code == 200


async def test_hash_upgraded_at_login_when_parameters_change(h: AdminHarness) -> None:
    tenant = await h.tenant()
    old = Passwords(HashParams(time_cost=1, memory_kib=8 * 1024, parallelism=1))
    email = new_email("legacy")
    user = await users.create_user(
        h.pool,
        NewUser(tenant.tenant_id, email, "viewer", await old.hash(PASSWORD)),
        SYSTEM,
    )
    assert (await h.login(email)).status_code == 200
    creds = await users.credentials(h.pool, LoginRef(user.user_id, tenant.tenant_id))
    assert creds is not None
    assert not h.admin.passwords.needs_rehash(creds.password_hash)
    assert "m=65536,t=3,p=1" in creds.password_hash
    assert (await h.login(email)).status_code == 200


async def test_suspended_tenant_cannot_log_in_or_use_tokens(h: AdminHarness) -> None:
    tenant = await h.tenant()
    suspended = await h.post(f"/tenants/{tenant.tenant_id}/suspend", h.platform_token)
    assert suspended.status_code == 200
    assert suspended.json()["status"] == "suspended"
    assert (await h.get("/agent", tenant.owner_token)).status_code == 401
    refused = await h.login(tenant.owner.email)
    assert refused.status_code == 403
    assert "suspended" in refused.json()["detail"]
    await h.post(f"/tenants/{tenant.tenant_id}/activate", h.platform_token)
    assert (await h.login(tenant.owner.email)).status_code == 200


async def test_login_is_audited(h: AdminHarness) -> None:
    tenant = await h.tenant()
    await h.login(tenant.owner.email)
    log = (await h.get("/audit?action=user.logged_in", tenant.owner_token)).json()
    assert log["items"]
    assert log["items"][0]["actor_id"] == tenant.owner.user_id


async def test_the_docs_password_flow_returns_a_token_that_works(h: AdminHarness) -> None:
    """What Swagger UI's Authorize dialog sends (OAuth2 password grant, a form)."""
    tenant = await h.tenant()
    form = {"grant_type": "password", "username": tenant.owner.email, "password": PASSWORD}
    response = await h.client.post("/api/v1/auth/token", data=form)
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 900
    me = await h.get("/auth/me", body["access_token"])
    assert me.status_code == 200
    assert me.json()["email"] == tenant.owner.email


async def test_the_password_flow_refuses_what_login_refuses(h: AdminHarness) -> None:
    tenant = await h.tenant()
    email = tenant.owner.email
    wrong = await h.client.post(
        "/api/v1/auth/token",
        data={"grant_type": "password", "username": email, "password": PASSWORD + "x"},
    )
    assert wrong.status_code == 401
    assert wrong.json()["detail"] == "email or password is incorrect"
    other_grant = await h.client.post(
        "/api/v1/auth/token",
        data={"grant_type": "client_credentials", "username": email, "password": PASSWORD},
    )
    assert other_grant.status_code == 400
    assert "grant_type" in other_grant.json()["detail"]
    not_an_email = await h.client.post(
        "/api/v1/auth/token",
        data={"grant_type": "password", "username": "nobody", "password": PASSWORD},
    )
    assert not_an_email.status_code == 422
    missing = await h.client.post("/api/v1/auth/token", data={"grant_type": "password"})
    assert missing.status_code == 422
