"""/api/v1/docs in a real Chromium with no way out to the internet: the page renders the API
from the engine's own files (no CDN), and an operator signs in with email and password through
the OAuth2 password flow, then calls an endpoint with the token it got."""

from __future__ import annotations

from playwright.async_api import Request

from tests.browser.conftest import Console
from tests.integration.admin_harness import PASSWORD


async def test_the_api_docs_render_offline_and_sign_in_with_a_password(console: Console) -> None:
    admin = await console.h.user(None, "platform_admin")
    context = await console.browser.new_context(viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    elsewhere: list[str] = []

    def note(request: Request) -> None:
        if not request.url.startswith((console.url, "data:")):
            elsewhere.append(request.url)

    page.on("request", note)
    await page.goto(f"{console.url}/api/v1/docs")
    me = page.locator(".opblock", has=page.locator('.opblock-summary-path[data-path="/auth/me"]'))
    await me.wait_for()  # the operations are rendered

    await page.locator(".auth-wrapper .authorize").click()
    dialog = page.locator(".modal-ux")
    await dialog.locator("#oauth_username").fill(admin.email)
    await dialog.locator("#oauth_password").fill(PASSWORD)
    await dialog.get_by_role("button", name="Apply given OAuth2 credentials").click()
    await dialog.locator("button", has_text="Logout").wait_for()  # the password flow signed in
    await dialog.locator(".btn-done").first.click()

    await me.locator(".opblock-summary").click()
    await me.get_by_role("button", name="Try it out").click()
    await me.get_by_role("button", name="Execute").click()
    status = me.locator(".live-responses-table tr.response .response-col_status").first
    await status.wait_for()
    assert (await status.inner_text()).strip() == "200"
    assert admin.email in await me.locator(".live-responses-table").inner_text()
    assert elsewhere == []
    await context.close()
