"""An admin's change reaches the very next call: the greeting template and the voice are
changed through the admin API of a running in-process engine, and the next simulated Twilio
call is greeted with the new template in the new voice - while the tenant actor still held
the old settings from the call before. The preview endpoint returns exactly the instructions
that call's model session received."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import asyncpg
import httpx
import pytest

from engine.sim.caller_result import CallResult
from engine.sim.realtime import SimSession
from engine.sim.twilio_caller import CallScript, HangUp, WaitForAgent
from memory import calls, users
from memory.audit import SYSTEM
from memory.users import NewUser
from tests.conftest import PgUrls
from tests.integration.admin_harness import PASSWORD, new_email, password_hash, shared_passwords
from tests.integration.engine_harness import Engine, running_engine

CALLER = "+15550910001"
# The second call comes from a caller with no history: the preview renders a new caller's
# instructions, and a returning caller's would also carry what memory knows about them.
NEW_CALLER = "+15550910002"


@pytest.fixture
async def engine(pg_urls: PgUrls, app_pool: asyncpg.Pool, jwt_secret: str) -> AsyncIterator[Engine]:
    async with running_engine(pg_urls.app, jwt_secret, app_pool) as running:
        yield running


async def _call(engine: Engine, number: str, caller: str = CALLER) -> CallResult:
    script = CallScript(
        from_number=caller, to_number=number, steps=(WaitForAgent(timeout=15), HangUp())
    )
    result = await engine.caller().place_call(script, timeout=45)
    assert result.violations == []
    assert result.heard_ms > 0
    return result


async def _greeting(engine: Engine, tenant_id: str, call_sid: str) -> str:
    for _ in range(60):
        turns = await calls.load_turns(engine.db, tenant_id, call_sid)
        if turns:
            assert turns[0].role == "agent"
            return turns[0].text
        await asyncio.sleep(0.05)
    raise AssertionError("no greeting turn stored")


def _session(engine: Engine, index: int) -> SimSession:
    sessions = [s for s in engine.sim.sessions if CALLER[:-1] in s.instructions]
    return sessions[index]


async def test_greeting_and_voice_change_apply_to_the_next_call(engine: Engine) -> None:
    tenant_id, number = await engine.new_tenant(agent_name="Ava")
    email = new_email("owner")
    await users.create_user(
        engine.db,
        NewUser(tenant_id, email, "owner", await password_hash(shared_passwords())),
        SYSTEM,
    )
    api = f"{engine.base_url}/api/v1"
    async with httpx.AsyncClient(timeout=10) as http:
        login = await http.post(f"{api}/auth/login", json={"email": email, "password": PASSWORD})
        assert login.status_code == 200, login.text
        auth = {"Authorization": f"Bearer {login.json()['access_token']}"}

        first = await _call(engine, number)  # the tenant actor now holds the old snapshot
        assert "This is Ava" in await _greeting(engine, tenant_id, first.call_sid)
        assert _session(engine, 0).session_config["audio"]["output"]["voice"] == "marin"

        changed = await http.patch(
            f"{api}/agent",
            headers=auth,
            json={
                "voice": "cedar",
                "greeting_new": "{time_greeting}, Evergreen Insurance, {agent_name} speaking.",
            },
        )
        assert changed.status_code == 200, changed.text

        began = datetime.now(UTC)
        second = await _call(engine, number, NEW_CALLER)
        ended = datetime.now(UTC)
        greeting = await _greeting(engine, tenant_id, second.call_sid)
        assert greeting.endswith(", Evergreen Insurance, Ava speaking.")
        assert greeting.split(",")[0] in ("Good morning", "Good afternoon", "Good evening")
        session = _session(engine, 1)
        assert session.session_config["audio"]["output"]["voice"] == "cedar"
        assert session.voice == "cedar"

        # The preview is the instructions this session got (rendered for the same minute).
        previews = set()
        for at in (began, ended):
            response = await http.get(
                f"{api}/agent/preview",
                headers=auth,
                params={"caller_number": NEW_CALLER, "at": at.isoformat()},
            )
            assert response.status_code == 200
            previews.add(response.json()["instructions"])
            assert response.json()["greeting"] == greeting or at is ended
        assert session.instructions in previews
