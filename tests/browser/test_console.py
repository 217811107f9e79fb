"""The console as its users drive it, in headless Chromium against the real ingress app and
Postgres: sign in and out, the agent's sliders with the live instruction preview, a finished
call with its recording, forgetting a caller, what a viewer sees, tenant isolation, an expired
session that keeps what was typed, security headers, and axe-core on every page."""

from __future__ import annotations

import re
import time
import uuid
from datetime import UTC, datetime

import httpx
from playwright.async_api import Response, expect

from memory import calls, tenants
from memory.call_records import CallEnd, CallStart, Turn
from memory.db import tenant_tx
from prompts.persona import slider_instruction
from tests.browser.conftest import Console, serious_violations
from tests.integration.admin_harness import ACCOUNT_SID, wait_for
from tests.integration.test_admin_api import seed_call
from tests.integration.test_admin_recordings import callback, stored, wav_bytes
from tests.memory_support import UNDRAINED


async def test_console_is_served_with_strict_security_headers(console: Console) -> None:
    async with httpx.AsyncClient(base_url=console.url) as client:
        page = await client.get("/console/")
        script = await client.get("/console/static/console.js")
        missing = await client.get("/console/static/../app.py")
    assert page.status_code == 200
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp
    assert "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp
    assert page.headers["cache-control"] == "no-store"
    assert "<script>" not in page.text  # no inline script
    assert script.headers["content-type"].startswith("text/javascript")
    assert missing.status_code == 404


async def test_sliders_move_the_preview_and_saving_reaches_the_next_call(
    console: Console,
) -> None:
    h = console.h
    tenant = await h.tenant()
    page = await console.signed_in(tenant.owner.email)
    await page.get_by_role("link", name="Agent").click()
    preview = page.locator("pre.preview")
    await expect(preview).to_contain_text("You are")
    expected = slider_instruction("warmth", 95)
    assert expected
    await expect(preview).not_to_contain_text(expected)
    await page.get_by_label("warmth").fill("95")
    await expect(preview).to_contain_text(expected)
    # Nothing is saved until Save.
    saved = await tenants.load_config(h.pool, tenant.tenant_id)
    assert saved is not None
    assert dict(saved.sliders).get("warmth", 50) == 50
    await page.get_by_role("button", name="Save sliders").click()
    await expect(page.get_by_role("status").filter(has_text="Saved")).to_contain_text(
        "the next call uses it"
    )
    config = await tenants.load_config(h.pool, tenant.tenant_id)  # what the next call is handed
    assert config is not None
    assert dict(config.sliders)["warmth"] == 95
    assert tenant.tenant_id in h.gateway.reloads


async def test_a_finished_call_shows_its_transcript_and_plays_its_recording(
    console: Console,
) -> None:
    h = console.h
    tenant = await h.tenant()
    seeded = await seed_call(h.pool, tenant, "+15550900001", memories=False)
    recording_sid = "RE" + uuid.uuid4().hex
    audio_bytes = wav_bytes(600.0)
    h.rest.add_recording(ACCOUNT_SID, recording_sid, audio_bytes)
    assert (await callback(h, tenant, seeded.call_sid, recording_sid)).status_code == 204
    assert (await stored(h, tenant, recording_sid)).status == "stored"

    page = await console.signed_in(tenant.owner.email)
    audio_fetches: list[tuple[str | None, int, str | None]] = []

    async def seen(response: Response) -> None:
        if "/audio" in response.url:
            request = await response.request.all_headers()
            audio_fetches.append(
                (request.get("range"), response.status, response.headers.get("content-range"))
            )

    page.on("response", seen)
    await page.get_by_label("Outcome").select_option("transferred")
    await page.get_by_role("button", name="Filter").click()
    await expect(page.get_by_text("No calls.")).to_be_visible()
    await page.get_by_label("Outcome").select_option("caller_hung_up")
    await page.get_by_role("button", name="Filter").click()
    await page.get_by_role("link", name=re.compile(r"\d")).first.click()
    await expect(page.get_by_role("heading", name="Call from +15550900001")).to_be_visible()
    transcript = page.locator("ol.transcript li")
    await expect(transcript).to_have_count(4)
    await expect(transcript.nth(0)).to_contain_text("Good morning! This is Ava.")
    await expect(transcript.nth(2)).to_contain_text("take_message")
    await page.get_by_role("button", name=re.compile("Load recording")).click()
    audio = page.get_by_label("Call recording")
    await audio.wait_for()
    assert (await audio.get_attribute("src") or "").startswith(
        f"/api/v1/recordings/{recording_sid}/audio?access="
    )  # the browser fetches it itself: no blob of the whole file
    duration = await audio.evaluate(
        "a => new Promise(ok => a.readyState >= 1 ? ok(a.duration)"
        " : a.addEventListener('loadedmetadata', () => ok(a.duration)))"
    )
    assert 599.9 < duration < 600.1
    # Seek near the end: the player asks for that part of the file with a range request.
    played = await audio.evaluate(
        "a => new Promise(ok => { a.muted = true;"
        " a.addEventListener('seeked', () => ok(a.currentTime), { once: true });"
        " a.currentTime = 590; a.play(); })"
    )
    assert played >= 590

    async def seek_fetched() -> bool:  # a request from the middle of the file, not from 0
        return any(r and not r.startswith("bytes=0-") for r, _, _ in audio_fetches)

    await wait_for(seek_fetched)
    assert all(status == 206 for _, status, _ in audio_fetches), audio_fetches
    assert all(r and r.startswith("bytes=") for r, _, _ in audio_fetches), audio_fetches
    print(f"\nrecording fetches (range, status, content-range): {audio_fetches}")


async def test_forgetting_a_caller_asks_first_then_deletes_everything(console: Console) -> None:
    h = console.h
    tenant = await h.tenant()
    seeded = await seed_call(h.pool, tenant, "+15550900002")
    page = await console.signed_in(tenant.owner.email)
    await page.get_by_role("link", name="Callers").click()
    await page.get_by_role("link", name="+15550900002").click()
    await expect(page.locator("li", has_text="Spouse is Jo")).to_be_visible()
    await page.get_by_role("button", name="Delete memory: Spouse is Jo").click()
    await expect(page.locator("li", has_text="Spouse is Jo")).to_have_count(0)
    await page.get_by_role("button", name="Forget this caller").click()
    await expect(page.get_by_role("alertdialog")).to_contain_text("cannot be undone")
    await page.get_by_role("button", name="Cancel").click()
    assert await calls.load_turns(h.pool, tenant.tenant_id, seeded.call_sid)
    await page.get_by_role("button", name="Forget this caller").click()
    await page.get_by_role("button", name="Yes, forget").click()
    await expect(page.get_by_role("heading", name="Callers")).to_be_visible()
    assert await calls.load_turns(h.pool, tenant.tenant_id, seeded.call_sid) == []
    gone = await h.get("/callers/+15550900002", tenant.owner_token)
    assert gone.status_code == 404


async def test_a_viewer_sees_no_edit_controls(console: Console) -> None:
    h = console.h
    tenant = await h.tenant()
    await seed_call(h.pool, tenant, "+15550900003")
    viewer = await h.user(tenant.tenant_id, "viewer")
    page = await console.signed_in(viewer.email)
    await page.get_by_role("link", name="Agent").click()
    await expect(page.get_by_label("warmth")).to_be_disabled()
    await expect(page.get_by_role("button", name="Save sliders")).to_have_count(0)
    await expect(page.get_by_role("group", name="Presets")).to_have_count(0)
    await page.get_by_role("link", name="Callers").click()
    await page.get_by_role("link", name="+15550900003").click()
    await expect(page.locator("li", has_text="Spouse is Jo")).to_be_visible()
    await expect(page.get_by_role("button")).to_have_text(["Sign out"])
    await page.get_by_role("link", name="Messages").click()
    await expect(page.get_by_text("Call back about")).to_be_visible()
    await expect(page.get_by_role("button", name="Mark handled")).to_have_count(0)
    await page.get_by_role("link", name="Knowledge").click()
    await expect(page.get_by_text("No entries yet.")).to_be_visible()
    await expect(page.get_by_role("button", name="Add entry")).to_have_count(0)


async def test_tenant_a_never_sees_tenant_b(console: Console) -> None:
    h = console.h
    mine = await h.tenant()
    theirs = await h.tenant()
    their_call = await seed_call(h.pool, theirs, "+15550900004")
    page = await console.signed_in(mine.owner.email)
    await expect(page.get_by_text("No calls.")).to_be_visible()
    await page.goto(f"{console.url}/console/#/call/{their_call.call_sid}")
    await expect(page.get_by_role("alert")).to_contain_text("no such call")
    await page.goto(f"{console.url}/console/#/caller/%2B15550900004")
    await expect(page.get_by_role("alert")).to_contain_text("no such caller")


async def test_an_expired_session_signs_in_again_without_losing_typed_text(
    console: Console,
) -> None:
    h = console.h
    tenant = await h.tenant()
    page = await console.signed_in(tenant.owner.email)
    await page.get_by_label("Caller", exact=True).fill("+15550999999")
    async with tenant_tx(h.pool, tenant.tenant_id) as conn:  # the session ends server-side
        await conn.execute(
            "UPDATE admin_sessions SET revoked_at = now() WHERE user_id = $1",
            uuid.UUID(tenant.owner.user_id),
        )
    await page.get_by_role("button", name="Filter").click()
    dialog = page.get_by_role("dialog")
    await expect(dialog).to_contain_text("Your session ended")
    await dialog.get_by_label("Email").fill(tenant.owner.email)
    await dialog.get_by_label("Password").fill("a long test passphrase 7f3k")
    await dialog.get_by_role("button", name="Sign in").click()
    await expect(dialog).to_have_count(0)
    await expect(page.get_by_label("Caller", exact=True)).to_have_value("+15550999999")
    await expect(page.get_by_text("No calls.")).to_be_visible()


async def test_sign_out_revokes_the_session(console: Console) -> None:
    h = console.h
    tenant = await h.tenant()
    page = await console.signed_in(tenant.owner.email)

    async def live_sessions() -> int:
        async with tenant_tx(h.pool, tenant.tenant_id) as conn:
            count: int = await conn.fetchval(
                "SELECT count(*) FROM admin_sessions WHERE user_id = $1 AND revoked_at IS NULL",
                uuid.UUID(tenant.owner.user_id),
            )
        return count

    assert await live_sessions() == 2  # the harness' own token, and the browser's
    await page.get_by_role("button", name="Sign out").click()
    await expect(page.get_by_role("heading", name="Sign in to NeuroSphere Voice")).to_be_visible()
    assert await live_sessions() == 1


async def test_every_page_passes_axe_at_desktop_and_phone_width(console: Console) -> None:
    h = console.h
    tenant = await h.tenant()
    seeded = await seed_call(h.pool, tenant, "+15550900005")
    context = await console.browser.new_context(bypass_csp=True)  # to inject axe-core
    signin = await context.new_page()
    await signin.goto(f"{console.url}/console/")
    await signin.get_by_label("Email").wait_for()
    assert await serious_violations(signin) == []
    for width in (1280, 390):
        page = await console.signed_in(tenant.owner.email, width=width, bypass_csp=True)
        for hash_, ready in (
            ("#/calls", "table.calls"),
            (f"#/call/{seeded.call_sid}", "ol.transcript"),
            ("#/agent", "pre.preview"),
            ("#/settings", "form.settings"),
            ("#/overview", "figure.chart canvas"),
            ("#/callers", "h1"),
            ("#/caller/%2B15550900005", "ul.plain"),
            ("#/messages", "ul.plain"),
            ("#/users", "table"),
            ("#/knowledge", "form.stack"),
            ("#/audit", "table"),
        ):
            await page.evaluate(f"location.hash = '{hash_}'")
            await page.locator(ready).first.wait_for()
            assert await serious_violations(page) == [], (width, hash_)
            scroll = await page.evaluate("document.documentElement.scrollWidth")
            assert scroll <= width + 1, (width, hash_, scroll)  # no sideways scrolling


async def test_an_invitation_link_sets_up_an_account_in_the_console(console: Console) -> None:
    h = console.h
    tenant = await h.tenant()
    page = await console.signed_in(tenant.owner.email)
    await page.get_by_role("link", name="Users").click()
    email = f"new-{uuid.uuid4().hex[:8]}@agency.example"
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Role").select_option("admin")
    await page.get_by_role("button", name="Create invitation link").click()
    link = await page.get_by_label("Invitation link").input_value()
    assert "/console/#/invite/nsi1." in link

    invited = await console.browser.new_page()
    await invited.goto(link.replace("https://voice.example.com", console.url))
    await expect(invited.get_by_text(f"invited as admin with {email}")).to_be_visible()
    await invited.get_by_label("Choose a password").fill("password1234")
    await invited.get_by_role("button", name="Create account").click()
    await expect(invited.get_by_role("alert")).to_contain_text("password")
    await invited.get_by_label("Choose a password").fill("a long test passphrase 7f3k")
    await invited.get_by_role("button", name="Create account").click()
    await expect(invited.get_by_text(f"{email} (admin)")).to_be_visible()

    again = await console.browser.new_page()
    await again.goto(link.replace("https://voice.example.com", console.url))
    await expect(again.get_by_role("alert")).to_contain_text("already been used")


async def test_a_live_calls_transcript_grows_in_the_page(console: Console) -> None:
    h = console.h
    tenant = await h.tenant()
    call_sid = "CA" + uuid.uuid4().hex
    await calls.start_call(
        h.pool,
        tenant.tenant_id,
        CallStart(call_sid, "+15550900006", tenant.number),
        outbox_queue=UNDRAINED,
    )
    now = datetime.now(UTC)
    await calls.append_turns(
        h.pool, tenant.tenant_id, call_sid, [Turn(0, "agent", "Good morning! This is Ava.", now)]
    )
    page = await console.signed_in(tenant.owner.email)
    await page.goto(f"{console.url}/console/#/call/{call_sid}")
    transcript = page.locator("ol.transcript li")
    await expect(transcript).to_have_count(1)
    await expect(page.locator(".live")).to_be_visible()
    delays = []
    for turn in (
        Turn(1, "caller", "I'd like to start a claim.", datetime.now(UTC)),
        Turn(2, "agent", "Of course. Was anyone hurt?", datetime.now(UTC)),
    ):
        written = time.perf_counter()
        await calls.append_turns(h.pool, tenant.tenant_id, call_sid, [turn])
        await expect(transcript.nth(turn.seq)).to_contain_text(turn.text)
        delays.append((time.perf_counter() - written) * 1000)
    print(f"\nlive transcript: turn written -> shown {', '.join(f'{d:.0f}' for d in delays)} ms")
    await calls.finish_call(
        h.pool, tenant.tenant_id, call_sid, CallEnd("caller_hung_up"), outbox_queue=UNDRAINED
    )
    await expect(page.locator(".live")).to_have_count(0)
    await expect(transcript).to_have_count(3)
    # Another tenant's user cannot follow it.
    other = await h.tenant()
    refused = await h.get(f"/calls/{call_sid}/live", other.owner_token)
    assert refused.status_code == 404


async def test_knowledge_entries_are_added_and_show_in_the_audit_log(console: Console) -> None:
    h = console.h
    tenant = await h.tenant()
    page = await console.signed_in(tenant.owner.email)
    await page.get_by_role("link", name="Knowledge").click()
    await page.get_by_label("Kind").select_option("rule")
    await page.get_by_label("Title").fill("Office hours")
    await page.get_by_label("Text").fill("Open 9 to 5 on weekdays.")
    await page.get_by_role("button", name="Add entry").click()
    await expect(page.locator("li", has_text="Office hours")).to_contain_text("(rule)")
    await page.get_by_label("Kind").select_option("rule")
    await page.get_by_label("Title").fill("Office hours")
    await page.get_by_label("Text").fill("Again")
    await page.get_by_role("button", name="Add entry").click()
    await expect(page.get_by_role("alert")).to_be_visible()  # a taken title: said, not lost
    await expect(page.get_by_label("Text")).to_have_value("Again")
    listed = (await h.get("/knowledge", tenant.owner_token)).json()["items"]
    assert [(k["kind"], k["title"]) for k in listed] == [("rule", "Office hours")]
    await page.get_by_role("link", name="Audit log").click()
    await expect(page.locator("td", has_text="knowledge.")).to_have_count(1)


async def test_the_settings_page_shows_the_office_hours_and_closures(console: Console) -> None:
    h = console.h
    tenant = await h.tenant()
    hours = {
        "monday": [{"open": "09:00", "close": "17:00"}],
        "closures": [{"date": "2026-12-25", "reason": "Christmas Day"}],
        "after_hours_greeting": "We're closed, this is {agent_name}.",
    }
    changed = await h.patch(
        f"/tenants/{tenant.tenant_id}", h.platform_token, {"business_hours": hours}
    )
    assert changed.status_code == 200, changed.text
    page = await console.signed_in(tenant.owner.email)
    await page.get_by_role("link", name="Settings").click()
    facts = page.locator("section[aria-labelledby=line-title]")
    await expect(facts).to_contain_text("monday 09:00-17:00")
    await expect(facts).to_contain_text("2026-12-25 (Christmas Day)")
