"""AI disclosure settings: a platform admin sets a tenant's jurisdiction and policy or makes
disclosure mandatory for every tenant; the next call's greeting follows; tenants only read."""

from __future__ import annotations

from memory import tenants
from tests.integration.admin_harness import API, AdminHarness


async def _greeting_discloses(h: AdminHarness, tenant_id: str) -> bool:
    config = await tenants.load_config(h.pool, tenant_id)
    assert config is not None
    return config.ai_disclosure_required


async def test_a_jurisdiction_that_requires_it_makes_the_greeting_disclose(
    h: AdminHarness,
) -> None:
    tenant = await h.tenant()
    assert not await _greeting_discloses(h, tenant.tenant_id)
    path = f"{API}/tenants/{tenant.tenant_id}/compliance"
    answer = await h.client.put(path, headers=h.auth(h.platform_token), json={"jurisdiction": "CA"})
    assert answer.status_code == 200, answer.text
    assert answer.json()["disclosure_required"] is True
    assert await _greeting_discloses(h, tenant.tenant_id)
    texas = await h.client.put(path, headers=h.auth(h.platform_token), json={"jurisdiction": "TX"})
    assert texas.json()["disclosure_required"] is False
    always = await h.client.put(
        path,
        headers=h.auth(h.platform_token),
        json={"jurisdiction": "TX", "ai_disclosure": "always"},
    )
    assert always.json()["disclosure_required"] is True
    own = await h.get("/agent/compliance", tenant.owner_token)
    assert own.json()["ai_disclosure"] == "always"


async def test_the_platform_can_make_disclosure_mandatory_for_every_tenant(
    h: AdminHarness,
) -> None:
    first, second = await h.tenant(), await h.tenant()
    put = await h.client.put(
        f"{API}/platform/settings",
        headers=h.auth(h.platform_token),
        json={"ai_disclosure_mandatory": True},
    )
    try:
        assert put.status_code == 200, put.text
        assert await _greeting_discloses(h, first.tenant_id)
        assert await _greeting_discloses(h, second.tenant_id)
    finally:
        await h.client.put(
            f"{API}/platform/settings",
            headers=h.auth(h.platform_token),
            json={"ai_disclosure_mandatory": False},
        )
    assert not await _greeting_discloses(h, first.tenant_id)


async def test_tenants_cannot_change_disclosure_and_bad_values_are_refused(
    h: AdminHarness,
) -> None:
    tenant = await h.tenant()
    path = f"{API}/tenants/{tenant.tenant_id}/compliance"
    mine = await h.client.put(path, headers=h.auth(tenant.owner_token), json={"jurisdiction": None})
    assert mine.status_code == 403
    platform = await h.client.put(
        f"{API}/platform/settings",
        headers=h.auth(tenant.owner_token),
        json={"ai_disclosure_mandatory": False},
    )
    assert platform.status_code == 403
    for body in ({"jurisdiction": "California"}, {"ai_disclosure": "never"}, {"x": 1}):
        bad = await h.client.put(path, headers=h.auth(h.platform_token), json=body)
        assert bad.status_code == 422, (body, bad.text)
