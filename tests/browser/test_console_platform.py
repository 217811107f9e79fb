"""The platform administrators' pages in headless Chromium: tenants (create with inline
validation, change numbers, suspend and reactivate after a confirmation, AI-disclosure rule,
an owner's invitation) and the platform's settings; none of it is shown to a tenant's users."""

from __future__ import annotations

import uuid

from playwright.async_api import expect

from tests.browser.conftest import Console, serious_violations
from tests.integration.admin_harness import new_number


async def test_a_platform_admin_creates_changes_and_suspends_a_tenant(console: Console) -> None:
    h = console.h
    admin = await h.user(None, "platform_admin")
    page = await console.signed_in(admin.email, bypass_csp=True)
    nav = page.get_by_role("navigation", name="Console")
    await expect(nav.get_by_role("link")).to_have_text(["Tenants", "Platform settings"])
    await expect(page.get_by_role("heading", name="Tenants")).to_be_visible()
    assert await serious_violations(page) == []

    name = f"Agency {uuid.uuid4().hex[:6]}"
    first, second = new_number(), new_number()
    await page.get_by_label("Name").fill(name)
    await page.get_by_label("Phone numbers").fill(f"{first}\n555")
    await page.get_by_label("Time zone").fill("Mars/Olympus")
    await page.get_by_role("button", name="Create tenant").click()
    await expect(page.get_by_role("status")).to_contain_text("Not created")
    await expect(page.locator("#err-phone_numbers")).to_contain_text("number 2")
    await expect(page.locator("#err-time_zone")).to_contain_text("Mars/Olympus")
    await expect(page.get_by_label("Time zone")).to_have_attribute("aria-invalid", "true")
    listed = (await h.get("/tenants?limit=200", h.platform_token)).json()["items"]
    assert name not in [t["name"] for t in listed]  # nothing half-made
    await expect(page.get_by_label("Name")).to_have_value(name)  # nothing typed is lost

    await page.get_by_label("Phone numbers").fill(first)
    await page.get_by_label("Time zone").fill("America/Chicago")
    await page.get_by_role("button", name="Create tenant").click()
    await expect(page.get_by_role("heading", name=name)).to_be_visible()
    tenant_id = page.url.rsplit("/", 1)[1]
    assert (await h.get(f"/tenants/{tenant_id}", h.platform_token)).json()["time_zone"] == (
        "America/Chicago"
    )
    assert await serious_violations(page) == []

    await page.get_by_label("Phone numbers").fill(f"{first}\n{second}")
    await page.get_by_role("button", name="Save tenant").click()
    await expect(page.get_by_role("status")).to_contain_text("Saved")
    detail = (await h.get(f"/tenants/{tenant_id}", h.platform_token)).json()
    assert sorted(detail["phone_numbers"]) == sorted([first, second])
    assert tenant_id in h.gateway.reloads

    await page.get_by_label("Jurisdiction").fill("CA")
    await page.get_by_role("button", name="Save disclosure rule").click()
    await expect(page.get_by_text("greeting discloses the AI")).to_be_visible()
    compliance = (await h.get(f"/tenants/{tenant_id}/compliance", h.platform_token)).json()
    assert compliance["jurisdiction"] == "CA"

    email = f"owner-{uuid.uuid4().hex[:6]}@agency.example"
    await page.get_by_label("Owner's email").fill(email)
    await page.get_by_role("button", name="Create owner invitation").click()
    assert "/console/#/invite/" in await page.get_by_label("Owner invitation link").input_value()

    await page.get_by_role("button", name="Suspend tenant").click()
    await expect(page.get_by_role("alertdialog")).to_contain_text("Nothing is deleted")
    await page.get_by_role("button", name="Cancel").click()
    assert (await h.get(f"/tenants/{tenant_id}", h.platform_token)).json()["status"] == "active"
    await page.get_by_role("button", name="Suspend tenant").click()
    await page.get_by_role("button", name="Yes, suspend").click()
    await expect(page.locator(".badge")).to_have_text("suspended")
    assert (await h.get(f"/tenants/{tenant_id}", h.platform_token)).json()["status"] == (
        "suspended"
    )
    await page.get_by_role("link", name="All tenants").click()
    await page.get_by_label("Status").select_option("suspended")
    await expect(page.get_by_role("link", name=name)).to_be_visible()
    await page.get_by_role("link", name=name).click()
    await page.get_by_role("button", name="Reactivate tenant").click()
    await expect(page.locator(".badge")).to_have_text("active")


async def test_platform_settings_are_changed_by_a_platform_admin(console: Console) -> None:
    h = console.h
    admin = await h.user(None, "platform_admin")
    page = await console.signed_in(admin.email, bypass_csp=True)
    await page.get_by_role("link", name="Platform settings").click()
    switch = page.get_by_label("Every tenant's greeting discloses the AI")
    before = await switch.is_checked()
    assert (
        before
        is (await h.get("/platform/settings", h.platform_token)).json()["ai_disclosure_mandatory"]
    )
    assert await serious_violations(page) == []
    try:
        await switch.set_checked(not before)
        await page.get_by_role("button", name="Save platform settings").click()
        await expect(page.get_by_role("status")).to_contain_text("Saved")
        now = (await h.get("/platform/settings", h.platform_token)).json()
        assert now["ai_disclosure_mandatory"] is (not before)
    finally:  # the platform's settings are shared by every test
        await h.client.put(
            "/api/v1/platform/settings",
            headers=h.auth(h.platform_token),
            json={"ai_disclosure_mandatory": before},
        )


async def test_a_tenants_users_never_see_the_platform_pages(console: Console) -> None:
    h = console.h
    tenant = await h.tenant()
    page = await console.signed_in(tenant.owner.email)
    nav = page.get_by_role("navigation", name="Console")
    await expect(nav.get_by_role("link", name="Calls")).to_be_visible()
    await expect(nav.get_by_role("link", name="Tenants")).to_have_count(0)
    await expect(nav.get_by_role("link", name="Platform settings")).to_have_count(0)
    for hash_ in ("#/tenants", f"#/tenant/{tenant.tenant_id}", "#/platform"):
        await page.evaluate(f"location.hash = '{hash_}'")
        await expect(page.get_by_role("alert")).to_contain_text("platform administrators")
        await expect(page.get_by_role("button", name="Create tenant")).to_have_count(0)
    # And the API refuses them anyway.
    assert (await h.get("/tenants", tenant.owner_token)).status_code == 403
    assert (await h.get("/platform/settings", tenant.owner_token)).status_code == 403
