"""The console in a real headless Chromium (Debian's `chromium`, driven by Playwright; its own
browser download is never used), against the real ingress app served over HTTP on 127.0.0.1
by uvicorn, with real Postgres and the admin harness' tenant actors.

`console` yields (harness, base URL, browser). Each test opens its own browser context, so no
session leaks between tests.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest
import uvicorn
from playwright.async_api import Browser, Page, async_playwright

from tests.conftest import PgUrls
from tests.integration.admin_harness import PASSWORD, AdminHarness, admin_harness, wait_for

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
AXE = Path(__file__).parent / "axe.min.js"


@dataclass
class Console:
    h: AdminHarness
    url: str
    browser: Browser

    async def signed_in(
        self, email: str, *, width: int = 1280, bypass_csp: bool = False, at: str = "#/calls"
    ) -> Page:
        """A new browser context signed in as `email`, on page `at`. `bypass_csp` only to
        inject axe-core."""
        context = await self.browser.new_context(
            viewport={"width": width, "height": 900}, bypass_csp=bypass_csp
        )
        page = await context.new_page()
        await page.goto(f"{self.url}/console/{at}")
        await page.get_by_label("Email").fill(email)
        await page.get_by_label("Password").fill(PASSWORD)
        await page.get_by_role("button", name="Sign in").click()
        await page.get_by_role("button", name="Sign out").wait_for()
        return page


async def serious_violations(page: Page) -> list[str]:
    """axe-core (npm `axe-core` 4.14.1, vendored for the tests) on the page as it stands."""
    await page.add_script_tag(path=str(AXE))
    found = await page.evaluate(
        "async () => (await axe.run(document)).violations"
        ".filter(v => ['serious', 'critical'].includes(v.impact))"
        ".map(v => v.id + ': ' + v.nodes.map(n => n.target.join(' ')).join(', '))"
    )
    return list(found)


@pytest.fixture
async def console(
    pg_urls: PgUrls, app_pool: asyncpg.Pool, jwt_secret: str, tmp_path: Path
) -> AsyncIterator[Console]:
    if shutil.which(CHROMIUM) is None:
        pytest.fail("Debian's chromium is missing: apt-get install -y chromium (as .ci/run does)")
    async with admin_harness(pg_urls.app, jwt_secret, app_pool, tmp_path) as h:
        server = uvicorn.Server(
            uvicorn.Config(h.app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
        )
        task = asyncio.create_task(server.serve())

        async def started() -> bool:
            return bool(server.started)

        await wait_for(started)
        port = server.servers[0].sockets[0].getsockname()[1]
        try:
            async with async_playwright() as pw:
                # launch() gives every browser a new empty profile directory of its own.
                browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                try:
                    yield Console(h, f"http://127.0.0.1:{port}", browser)
                finally:
                    await browser.close()
        finally:
            server.should_exit = True
            await task
