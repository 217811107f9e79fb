"""The console's test call in headless Chromium against the whole engine in one process
(tests/integration/engine_harness.py: the real ingress app, tenant and call actors, Postgres,
the realtime simulator): Chromium's fake microphone plays a WAV spoken by espeak-ng, the page
streams it as mu-law over a WebSocket speaking the Twilio media-stream protocol, the engine
relays it to a call actor, and the agent's greeting comes back and is played."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
import uuid
from pathlib import Path

import aiohttp
import asyncpg
import pytest
from playwright.async_api import async_playwright, expect

from actors.tenant_actor import TEST_CALLER
from admin_api.passwords import Passwords
from memory import calls, users
from memory.audit import SYSTEM
from memory.db import tenant_tx
from memory.users import NewUser
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, Console
from tests.conftest import PgUrls
from tests.integration.admin_harness import PASSWORD, password_hash, wait_for
from tests.integration.engine_harness import running_engine


async def test_a_test_call_from_the_browser_reaches_the_agent_and_plays_the_greeting(
    pg_urls: PgUrls, app_pool: asyncpg.Pool, jwt_secret: str, tmp_path: Path
) -> None:
    if shutil.which("espeak-ng") is None:
        pytest.fail("espeak-ng is missing: apt-get install -y espeak-ng (as .ci/run does)")
    said = tmp_path / "caller.wav"
    await asyncio.to_thread(
        subprocess.run,
        ["espeak-ng", "-w", str(said), "Hello, I would like to report a claim please."],
        check=True,
    )
    async with running_engine(pg_urls.app, jwt_secret, app_pool) as engine:
        tenant_id, _ = await engine.new_tenant()
        email = f"owner-{uuid.uuid4().hex[:8]}@agency.example"
        await users.create_user(
            app_pool,
            NewUser(
                tenant_id=tenant_id,
                email=email,
                role="owner",
                password_hash=await password_hash(Passwords()),
            ),
            SYSTEM,
        )
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(
                executable_path=CHROMIUM,
                args=[
                    *CHROMIUM_ARGS,
                    "--use-fake-ui-for-media-stream",
                    "--use-fake-device-for-media-stream",
                    f"--use-file-for-fake-audio-capture={said}",
                    "--autoplay-policy=no-user-gesture-required",
                ],
            )
            try:
                page = await browser.new_page()
                await page.goto(f"{engine.base_url}/console/#/agent")
                await page.get_by_label("Email").fill(email)
                await page.get_by_label("Password").fill(PASSWORD)
                await page.get_by_role("button", name="Sign in").click()
                started = time.perf_counter()
                await page.get_by_role("button", name="Start test call").click()
                status = page.get_by_role("region", name="Talk to your agent").get_by_role("status")
                await expect(status).to_contain_text("First audio after", timeout=20_000)
                first_audio_ms = int(await status.get_attribute("data-first-audio-ms") or -1)
                connected_ms = int(await status.get_attribute("data-connected-ms") or -1)
                wall_ms = (time.perf_counter() - started) * 1000
                await expect(status).to_contain_text("The agent is talking")

                # The call is a call like any other: its row, the greeting as the agent's turn.
                async def greeted() -> bool:
                    async with tenant_tx(app_pool, tenant_id) as conn:
                        rows = await conn.fetch("SELECT call_sid FROM calls")
                    if len(rows) != 1:
                        return False
                    turns = await calls.load_turns(app_pool, tenant_id, rows[0]["call_sid"])
                    return any(t.role == "agent" for t in turns)

                await wait_for(greeted, 20)
                async with tenant_tx(app_pool, tenant_id) as conn:
                    row = await conn.fetchrow("SELECT call_sid, from_number FROM calls")
                assert row is not None
                assert row["from_number"] == TEST_CALLER
                # The microphone reached the model: mu-law from the fake capture device.
                session = engine.sim.sessions[-1]

                async def heard() -> bool:
                    return len(session.audio_in) >= 8000  # a second of the caller

                await wait_for(heard, 20)
                assert any(b not in (0x7F, 0xFF) for b in session.audio_in[:16000])  # not silence

                await page.get_by_role("button", name="Hang up").click()
                await expect(status).to_contain_text("Call ended")

                async def ended() -> bool:
                    record = await calls.get_call(app_pool, tenant_id, row["call_sid"])
                    return record is not None and record.ended_at is not None

                await wait_for(ended, 20)
                print(
                    f"\nbrowser test call: first agent audio {first_audio_ms} ms after the click "
                    f"(page clock; {wall_ms:.0f} ms as the test saw it), the media WebSocket "
                    f"open after {connected_ms} ms"
                )
            finally:
                await browser.close()


async def test_a_test_call_link_is_refused_unless_it_is_this_sessions_own(
    console: Console,
) -> None:
    h = console.h
    tenant = await h.tenant()
    viewer = await h.user(tenant.tenant_id, "viewer")
    assert (await h.post("/agent/test-call", await h.token_for(viewer))).status_code == 403
    assert (await h.post("/agent/test-call", h.platform_token)).status_code == 403
    made = await h.post("/agent/test-call", tenant.owner_token)
    assert made.status_code == 201
    link = made.json()
    assert link["url"].startswith(f"/api/v1/agent/test-call/{link['call_sid']}?access=")
    ws_base = console.url.replace("http://", "ws://")
    access = link["url"].split("access=", 1)[1]
    other_call = "CA" + uuid.uuid4().hex
    async with aiohttp.ClientSession() as http:
        for url in (
            f"/api/v1/agent/test-call/{link['call_sid']}",  # no link
            f"/api/v1/agent/test-call/{link['call_sid']}?access=not-a-token",
            f"/api/v1/agent/test-call/{other_call}?access={access}",  # another call's link
        ):
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await http.ws_connect(ws_base + url)
            assert refused.value.status == 403, url
        # A valid link whose tenant cannot take a call (the harness has no call capacity):
        # the socket is closed with the reason, nothing is left admitted.
        async with http.ws_connect(ws_base + link["url"]) as ws:
            closing = await ws.receive(timeout=10)
            assert closing.type == aiohttp.WSMsgType.CLOSE
            assert ws.close_code == 1013
            assert "cannot take a call" in str(closing.extra)
    # Signing out ends the links made in the session.
    again = (await h.post("/agent/test-call", tenant.owner_token)).json()
    assert (await h.post("/auth/logout", tenant.owner_token)).status_code == 204
    async with aiohttp.ClientSession() as http:
        with pytest.raises(aiohttp.WSServerHandshakeError):
            await http.ws_connect(ws_base + again["url"])
