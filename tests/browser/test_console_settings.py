"""The agent's settings page in headless Chromium: a form built from the API's own schema,
where the API's validation messages appear next to the field they are about, nothing is saved
until every field is accepted, and what is saved is what the next call is handed."""

from __future__ import annotations

from playwright.async_api import expect

from memory import tenants
from tests.browser.conftest import Console, serious_violations


async def test_settings_are_edited_with_inline_messages_and_reach_the_next_call(
    console: Console,
) -> None:
    h = console.h
    tenant = await h.tenant()
    page = await console.signed_in(tenant.owner.email)
    await page.get_by_role("link", name="Settings").click()
    line = page.get_by_role("region", name="Your line")
    await expect(line).to_contain_text(tenant.number)
    await expect(line).to_contain_text("America/New_York")

    await page.get_by_label("Voice").select_option("coral")
    await page.get_by_label("Greeting new").fill("Hello from {agent_name}, {nonsense}")
    silence = page.get_by_label("Silence duration (ms)")
    await silence.fill("100")
    await page.get_by_label("Fallback number").fill("555-1234")
    await page.get_by_role("button", name="Save settings").click()
    await expect(page.get_by_role("status")).to_contain_text("Not saved")
    # Each message sits with its field, and the field is marked invalid and described by it.
    await expect(silence).to_have_attribute("aria-invalid", "true")
    await expect(page.locator("#f-vad-silence_duration_ms-err")).to_contain_text("200")
    await expect(page.locator("#f-fallback_number-err")).to_be_visible()
    await expect(page.get_by_label("Fallback number")).to_have_attribute("aria-invalid", "true")
    saved = await tenants.load_config(h.pool, tenant.tenant_id)
    assert saved is not None
    assert (saved.voice, saved.version) == ("marin", 1)  # nothing saved

    # Rules that need the whole picture: a placeholder the greeting cannot fill, then a keypad
    # transfer naming no transfer rule; each message next to its field, what was typed kept.
    await silence.fill("900")
    await page.get_by_label("Fallback number").fill("")
    await page.get_by_role("button", name="Save settings").click()
    await expect(page.locator("#f-greeting_new-err")).to_contain_text("nonsense")
    await expect(page.get_by_label("Voice")).to_have_value("coral")
    await page.get_by_label("Greeting new").fill("{time_greeting}! {agent_name} here.")
    await page.get_by_label("New keypad actions key").fill("1")
    await page.get_by_role("button", name="Add", exact=True).click()
    keypad = page.get_by_role("group", name="Keypad actions 1")
    await keypad.get_by_label("Action").select_option("transfer")
    await keypad.get_by_label("Target").fill("claims")
    await page.get_by_role("button", name="Save settings").click()
    await expect(page.locator("#f-dtmf_actions-1-err")).to_contain_text("transfer rule")
    await page.get_by_role("button", name="Add to transfer rules").click()
    rule = page.get_by_role("group", name="Transfer rules 1")
    await rule.get_by_label("Keyword").fill("claims")
    await rule.get_by_label("Number").fill("+15551230000")
    await page.get_by_label("Record calls").check()
    await page.get_by_role("button", name="Save settings").click()
    await expect(page.get_by_role("status")).to_contain_text("the next call uses it")
    await expect(page.locator(".field-error")).to_have_count(0)

    config = await tenants.load_config(h.pool, tenant.tenant_id)  # what the next call gets
    assert config is not None
    assert config.voice == "coral"
    assert config.vad.silence_duration_ms == 900
    assert config.greeting_new == "{time_greeting}! {agent_name} here."
    assert config.record_calls is True
    assert config.fallback_number is None
    assert [(r.keyword, r.number) for r in config.transfer_rules] == [("claims", "+15551230000")]
    assert dict(config.dtmf_actions)["1"].action == "transfer"
    assert tenant.tenant_id in h.gateway.reloads


async def test_a_viewer_reads_the_settings_but_cannot_change_them(console: Console) -> None:
    h = console.h
    tenant = await h.tenant()
    viewer = await h.user(tenant.tenant_id, "viewer")
    page = await console.signed_in(viewer.email, bypass_csp=True)
    await page.get_by_role("link", name="Settings").click()
    await expect(page.get_by_label("Voice")).to_be_disabled()
    await expect(page.get_by_label("Silence duration (ms)")).to_be_disabled()
    await expect(page.get_by_role("button", name="Save settings")).to_have_count(0)
    await expect(page.get_by_role("button", name="Add to transfer rules")).to_have_count(0)
    assert await serious_violations(page) == []
