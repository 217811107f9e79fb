"""The overview page in headless Chromium: the counts of /overview as tiles and uPlot charts
(vendored, nothing fetched from elsewhere), each chart with a text summary and its numbers as a
table, the period switch, and axe-core at desktop and phone width."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from playwright.async_api import Request, expect

from tests.browser.conftest import Console, serious_violations
from tests.integration.test_admin_overview import add_call


async def test_the_overview_charts_calls_outcomes_answer_times_and_sentiment(
    console: Console,
) -> None:
    h = console.h
    tenant = await h.tenant(time_zone="UTC")
    now = datetime.now(UTC)
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    today = midnight + (now - midnight) / 2
    await add_call(h, tenant, today, transferred_to="+15550001111", sentiment="positive")
    await add_call(h, tenant, today, message=True, greeting_ms=300)
    await add_call(h, tenant, today - timedelta(days=3), outcome="agent_hung_up")
    await add_call(h, tenant, max(today, now - timedelta(minutes=1)), outcome=None)  # live

    requests: list[str] = []
    context = await console.browser.new_context(bypass_csp=True)  # only to inject axe-core
    page = await context.new_page()

    def seen(request: Request) -> None:
        requests.append(request.url)

    page.on("request", seen)
    await page.goto(f"{console.url}/console/")
    await page.get_by_label("Email").fill(tenant.owner.email)
    await page.get_by_label("Password").fill("a long test passphrase 7f3k")
    await page.get_by_role("button", name="Sign in").click()
    # The overview is where a signed-in user lands.
    await expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    tiles = page.locator("dl.tiles")
    await expect(tiles.locator("div", has_text="Live now").locator("dd")).to_have_text("1")
    await expect(tiles.locator("div", has_text="Today").locator("dd")).to_have_text("3")
    await expect(tiles.locator("div", has_text="Transfer rate").locator("dd")).to_have_text("33%")
    charts = page.locator("figure.chart")
    await expect(charts).to_have_count(5)
    await expect(page.locator("figure.chart canvas")).to_have_count(5)  # uPlot drew them all
    calls_chart = page.get_by_role("img", name="Calls per day, 14 days: Calls 4.")
    await expect(calls_chart).to_be_visible()
    outcomes = page.get_by_role("figure", name="Outcomes")
    await expect(outcomes.get_by_role("img")).to_have_attribute(
        "aria-label",
        "Outcomes, 14 days: Transferred 1, Message taken 1, Caller hung up 0, "
        "Agent ended 1, Failed or lost 0.",
    )
    await outcomes.get_by_text("Outcomes as a table").click()
    await expect(outcomes.locator("tbody tr")).to_have_count(14)
    assert await serious_violations(page) == []
    await page.set_viewport_size({"width": 390, "height": 800})
    await expect(page.locator("figure.chart canvas").first).to_be_visible()
    assert await serious_violations(page) == []
    scroll = await page.evaluate("document.documentElement.scrollWidth")
    assert scroll <= 391  # no sideways scrolling at phone width

    await page.get_by_label("Period").select_option("30")
    await expect(outcomes.locator("tbody tr")).to_have_count(30)
    assert all(url.startswith(console.url) for url in requests), requests  # nothing external
    assert any(url.endswith("/vendor/uplot.js") for url in requests)
