"""What a new admin met when walking the admin API, fixed: the agent's GET body PATCHes back
unchanged (tools from the tool registry), an owner reads their own tenant, invitations instead
of chosen passwords, one list shape, plain validation messages and dates read in the tenant's
time zone. Real Postgres, the real ingress app."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from engine.tools import TOOL_NAMES
from memory.db import tenant_tx
from tests.integration.admin_harness import PASSWORD, AdminHarness, new_email, new_number
from tests.integration.test_admin_api import STRONG, seed_call


async def test_agent_get_body_patches_back_and_every_registry_tool_can_be_chosen(
    h: AdminHarness,
) -> None:
    tenant = await h.tenant()
    token = tenant.owner_token
    body = (await h.get("/agent", token)).json()
    assert "remember" in body["tools"]
    same = await h.patch("/agent", token, body)
    assert same.status_code == 200, same.text
    assert same.json()["version"] == body["version"]  # nothing changed

    without = await h.patch("/agent", token, {"tools": ["end_call", "take_message"]})
    assert without.status_code == 200, without.text
    back = await h.patch("/agent", token, {"tools": list(TOOL_NAMES)})
    assert back.status_code == 200, back.text
    assert back.json()["tools"] == list(TOOL_NAMES)
    assert (await h.get("/agent/presets", token)).json()["tools"] == list(TOOL_NAMES)

    unknown = await h.patch("/agent", token, {"tools": ["end_call", "fly"]})
    assert unknown.status_code == 422
    assert "unknown tool; the tools are: end_call, transfer_call" in unknown.json()["detail"]

    stale = await h.patch("/agent", token, {**body, "agent_name": "Old tab"})
    assert stale.status_code == 409
    assert "changed meanwhile" in stale.json()["detail"]
    assert (await h.get("/agent", token)).json()["agent_name"] == body["agent_name"]


async def test_a_tenants_users_read_their_own_tenant_only(h: AdminHarness) -> None:
    mine = await h.tenant(time_zone="America/Denver")
    theirs = await h.tenant()
    viewer = await h.user(mine.tenant_id, "viewer")
    for token in (mine.owner_token, await h.token_for(viewer)):
        own = await h.get(f"/tenants/{mine.tenant_id}", token)
        assert own.status_code == 200, own.text
        assert own.json()["phone_numbers"] == [mine.number]
        assert own.json()["time_zone"] == "America/Denver"
        assert "twilio_auth_token" not in own.json()
    other = await h.get(f"/tenants/{theirs.tenant_id}", mine.owner_token)
    assert other.status_code == 404
    missing = await h.get(f"/tenants/{uuid.uuid4()}", mine.owner_token)
    assert missing.status_code == 404
    assert other.json() == missing.json()
    change = await h.patch(f"/tenants/{mine.tenant_id}", mine.owner_token, {"name": "Mine"})
    assert change.status_code == 403
    assert (await h.get("/tenants", mine.owner_token)).status_code == 403


async def test_invitation_sets_up_an_account_once(h: AdminHarness) -> None:
    tenant = await h.tenant()
    email = new_email("invited")
    invited = await h.post(
        f"/tenants/{tenant.tenant_id}/invitations",
        h.platform_token,
        {"email": email, "role": "owner", "display_name": "Pat"},
    )
    assert invited.status_code == 201, invited.text
    token = invited.json()["token"]
    assert invited.json()["url"].endswith(f"/console/#/invite/{token}")
    expires = datetime.fromisoformat(invited.json()["expires_at"])
    assert timedelta(days=6) < expires - datetime.now(UTC) <= timedelta(days=7)

    info = await h.client.post("/api/v1/auth/invitation", json={"token": token})
    assert info.status_code == 200
    assert info.json()["email"] == email
    assert info.json()["role"] == "owner"

    weak = await h.client.post(
        "/api/v1/auth/invitation/accept", json={"token": token, "password": "password123"}
    )
    assert weak.status_code == 422
    assert weak.json()["detail"].startswith("password:")
    accepted = await h.client.post(
        "/api/v1/auth/invitation/accept", json={"token": token, "password": PASSWORD}
    )
    assert accepted.status_code == 201, accepted.text
    assert accepted.json()["role"] == "owner"
    assert accepted.json()["display_name"] == "Pat"
    assert (await h.login(email)).status_code == 200

    again = await h.client.post(
        "/api/v1/auth/invitation/accept", json={"token": token, "password": PASSWORD}
    )
    assert again.status_code == 410
    assert "already been used" in again.json()["detail"]
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    bad = await h.client.post("/api/v1/auth/invitation", json={"token": forged})
    assert bad.status_code == 404
    garbage = await h.client.post("/api/v1/auth/invitation", json={"token": "nope"})
    assert garbage.status_code == 404

    audit = (await h.get("/audit", tenant.owner_token)).json()["items"]
    assert {"user.invited", "user.created"} <= {e["action"] for e in audit}


async def test_invitation_roles_expiry_and_taken_emails(h: AdminHarness) -> None:
    tenant = await h.tenant()
    admin = await h.user(tenant.tenant_id, "admin")
    admin_token = await h.token_for(admin)
    viewer_token = await h.token_for(await h.user(tenant.tenant_id, "viewer"))
    owner_by_admin = await h.post(
        "/users/invitations", admin_token, {"email": new_email(), "role": "owner"}
    )
    assert owner_by_admin.status_code == 403
    by_viewer = await h.post(
        "/users/invitations", viewer_token, {"email": new_email(), "role": "viewer"}
    )
    assert by_viewer.status_code == 403
    taken = await h.post(
        "/users/invitations", admin_token, {"email": admin.email, "role": "viewer"}
    )
    assert taken.status_code == 409

    made = await h.post("/users/invitations", admin_token, {"email": new_email(), "role": "viewer"})
    assert made.status_code == 201, made.text
    token = made.json()["token"]
    async with tenant_tx(h.pool, tenant.tenant_id) as conn:
        await conn.execute(
            "UPDATE admin_invitations SET expires_at = now() - interval '1 second' "
            "WHERE email = $1",
            made.json()["email"],
        )
    expired = await h.client.post(
        "/api/v1/auth/invitation/accept", json={"token": token, "password": PASSWORD}
    )
    assert expired.status_code == 410
    assert "expired" in expired.json()["detail"]
    assert (await h.login(made.json()["email"])).status_code == 401


async def test_every_list_has_one_shape(h: AdminHarness) -> None:
    tenant = await h.tenant()
    seeded = await seed_call(h.pool, tenant, "+15550700001")
    await h.post("/knowledge", tenant.owner_token, {"kind": "fact", "title": "Hours", "body": "9"})
    for path, token in (
        ("/users", tenant.owner_token),
        ("/knowledge", tenant.owner_token),
        (f"/callers/{seeded.caller}/memories", tenant.owner_token),
        ("/callers", tenant.owner_token),
        ("/calls", tenant.owner_token),
        ("/messages", tenant.owner_token),
        ("/audit", tenant.owner_token),
        (f"/tenants/{tenant.tenant_id}/users", h.platform_token),
        ("/tenants", h.platform_token),
    ):
        response = await h.get(path, token)
        assert response.status_code == 200, (path, response.text)
        body = response.json()
        assert isinstance(body, dict), path
        assert set(body) == {"items", "next_cursor"}, path
        assert body["items"], path


async def test_validation_messages_are_plain(h: AdminHarness) -> None:
    bad_number = await h.post(
        "/tenants", h.platform_token, {"name": "Bad", "phone_numbers": ["555-0100"]}
    )
    assert bad_number.status_code == 422
    detail = bad_number.json()["detail"]
    assert "international form" in detail
    assert "+15551234567" in detail
    assert "^" not in detail  # no regular expression
    assert "[" not in detail
    tenant = await h.tenant()
    rule = await h.patch(
        "/agent",
        tenant.owner_token,
        {"transfer_rules": [{"keyword": "claims", "number": "0800 123"}]},
    )
    assert rule.status_code == 422
    assert "international form" in rule.json()["detail"]


async def test_call_filters_read_dates_in_the_tenants_zone(h: AdminHarness) -> None:
    tenant = await h.tenant(time_zone="America/New_York")
    # 2026-12-01 04:30 UTC is still Nov 30 in New York (23:30); 05:30 UTC is Dec 1, 00:30.
    late = await seed_call(
        h.pool,
        tenant,
        new_number(),
        started_at=datetime(2026, 12, 1, 4, 30, tzinfo=UTC),
        memories=False,
    )
    early = await seed_call(
        h.pool,
        tenant,
        new_number(),
        started_at=datetime(2026, 12, 1, 5, 30, tzinfo=UTC),
        memories=False,
    )

    async def sids(**params: str) -> list[str]:
        response = await h.get("/calls", tenant.owner_token, params=params)
        assert response.status_code == 200, response.text
        return [c["call_sid"] for c in response.json()["items"]]

    assert await sids(since="2026-12-01") == [early.call_sid]
    assert await sids(until="2026-12-01") == [late.call_sid]
    assert await sids(since="2026-12-01T00:15", until="2026-12-01T01:00") == [early.call_sid]
    assert await sids(since="2026-12-01T00:00:00Z") == [early.call_sid, late.call_sid]
    refused = await h.get("/calls", tenant.owner_token, params={"since": "yesterday"})
    assert refused.status_code == 422
    assert "since" in refused.json()["detail"]


async def test_password_created_users_still_work(h: AdminHarness) -> None:
    """Creating a user with a password stays possible (the CLI and scripts use it)."""
    tenant = await h.tenant()
    made = await h.post(
        "/users", tenant.owner_token, {"email": new_email(), "password": STRONG, "role": "viewer"}
    )
    assert made.status_code == 201, made.text


async def test_draft_preview_renders_unsaved_sliders_and_refuses_bad_ones(h: AdminHarness) -> None:
    tenant = await h.tenant()
    token = tenant.owner_token
    draft = await h.post("/agent/preview", token, {"sliders": {"warmth": 95}})
    assert draft.status_code == 200, draft.text
    saved = (await h.get("/agent/preview", token)).json()
    assert draft.json()["instructions"] != saved["instructions"]
    assert (await h.get("/agent", token)).json()["sliders"]["warmth"] == 50  # nothing saved
    for bad in ({"warmth": 101}, {"nope": 5}, {"warmth": "95"}):
        refused = await h.post("/agent/preview", token, {"sliders": bad})
        assert refused.status_code == 422, bad
    assert (await h.post("/agent/preview", token, {"voice": "cedar"})).status_code == 422
