"""The admin API for caller verification: the tenant's policy (owners and admins change it,
viewers read it, a bad policy is refused), and write-only identifiers per caller."""

from __future__ import annotations

import uuid

from tests.integration.admin_harness import API, AdminHarness


def _caller() -> str:
    return "+1555" + str(uuid.uuid4().int)[:7]


async def test_the_policy_is_required_by_default_and_can_be_changed(h: AdminHarness) -> None:
    tenant = await h.tenant()
    got = await h.get("/agent/verification", tenant.owner_token)
    assert got.status_code == 200
    assert got.json()["required"] is True
    changed = await h.client.put(
        f"{API}/agent/verification",
        headers=h.auth(tenant.owner_token),
        json={
            "fields": ["policy_number", "last_name"],
            "matches_needed": 2,
            "greet_by_name": False,
        },
    )
    assert changed.status_code == 200, changed.text
    again = (await h.get("/agent/verification", tenant.owner_token)).json()
    assert again["fields"] == ["policy_number", "last_name"]
    assert again["greet_by_name"] is False
    audit = (await h.get("/audit?action=agent.verification", tenant.owner_token)).json()
    assert [e["changes"]["fields"] for e in audit["items"]] == [["policy_number", "last_name"]]


async def test_a_policy_that_can_never_be_met_is_refused(h: AdminHarness) -> None:
    tenant = await h.tenant()
    bodies: tuple[dict[str, object], ...] = (
        {"fields": ["zip_code"], "matches_needed": 2},
        {"fields": ["shoe_size"]},
        {"fields": []},
        {"cooldown_s": -1},
        {"unknown": True},
    )
    for body in bodies:
        answer = await h.client.put(
            f"{API}/agent/verification", headers=h.auth(tenant.owner_token), json=body
        )
        assert answer.status_code == 422, (body, answer.text)
    assert (await h.get("/agent/verification", tenant.owner_token)).json()["fields"] == [
        "date_of_birth",
        "zip_code",
    ]


async def test_identifiers_are_write_only(h: AdminHarness) -> None:
    tenant = await h.tenant()
    caller = _caller()
    put = await h.client.put(
        f"{API}/callers/{caller}/identifiers",
        headers=h.auth(tenant.owner_token),
        json={"date_of_birth": "March 4, 1980", "zip_code": "94110"},
    )
    assert put.status_code == 200, put.text
    assert put.json() == {"caller_number": caller, "fields_on_file": ["date_of_birth", "zip_code"]}
    got = await h.get(f"/callers/{caller}/identifiers", tenant.owner_token)
    assert "1980" not in got.text
    assert "94110" not in got.text
    removed = await h.client.put(
        f"{API}/callers/{caller}/identifiers",
        headers=h.auth(tenant.owner_token),
        json={"zip_code": None},
    )
    assert removed.json()["fields_on_file"] == ["date_of_birth"]


async def test_an_unreadable_identifier_is_refused_with_a_clear_error(h: AdminHarness) -> None:
    tenant = await h.tenant()
    caller = _caller()
    for body in ({"date_of_birth": "next week"}, {"zip_code": "12"}, {}, {"ssn": "123"}):
        answer = await h.client.put(
            f"{API}/callers/{caller}/identifiers", headers=h.auth(tenant.owner_token), json=body
        )
        assert answer.status_code == 422, (body, answer.text)
    assert (await h.get(f"/callers/{caller}/identifiers", tenant.owner_token)).json()[
        "fields_on_file"
    ] == []


async def test_viewers_read_but_cannot_change_and_tenants_stay_apart(h: AdminHarness) -> None:
    tenant, other = await h.tenant(), await h.tenant()
    viewer = await h.token_for(await h.user(tenant.tenant_id, "viewer"))
    assert (await h.get("/agent/verification", viewer)).status_code == 200
    refused = await h.client.put(
        f"{API}/agent/verification", headers=h.auth(viewer), json={"required": False}
    )
    assert refused.status_code == 403
    caller = _caller()
    await h.client.put(
        f"{API}/callers/{caller}/identifiers",
        headers=h.auth(tenant.owner_token),
        json={"last_name": "Nunez"},
    )
    seen = await h.get(f"/callers/{caller}/identifiers", other.owner_token)
    assert seen.json()["fields_on_file"] == []
