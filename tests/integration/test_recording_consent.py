"""Recording consent through whole calls (webhook, tenant and call actors, the realtime and
Twilio REST simulators, Postgres): a caller who must hear the notice first is not recorded from
the answer - the engine starts the recording through the REST API once the notice has played -
and one who says no has it stopped and the call recorded as declined; where no notice is
needed Twilio records from the answer."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace

import asyncpg
import httpx
import pytest

from engine.sim.realtime_script import Reply, Script
from engine.sim.twilio_caller import CallScript, HangUp, Pause, Speak, WaitForAgent
from memory import agent_settings, calls
from memory.audit import SYSTEM
from memory.call_records import CallRecord
from memory.db import tenant_tx
from tests.conftest import PgUrls
from tests.integration.engine_harness import ACCOUNT_SID, Engine, running_engine

NOTICE = "This call is recorded for quality."
DECLINE = "Please don't record this call."


@pytest.fixture
async def engine(pg_urls: PgUrls, app_pool: asyncpg.Pool, jwt_secret: str) -> AsyncIterator[Engine]:
    async with running_engine(pg_urls.app, jwt_secret, app_pool) as running:
        yield running


async def _recording_tenant(engine: Engine, rule: str, jurisdiction: str) -> tuple[str, str]:
    tenant_id, number = await engine.new_tenant(agent_name="Ava", record_calls=True)
    await agent_settings.update_settings(
        engine.db,
        tenant_id,
        SYSTEM,
        lambda s: replace(s, recording_notice=rule, recording_consent=NOTICE),
    )
    async with tenant_tx(engine.db, tenant_id) as conn:
        await conn.execute(
            "UPDATE tenants SET jurisdiction = $2 WHERE tenant_id = $1",
            uuid.UUID(tenant_id),
            jurisdiction,
        )
    return tenant_id, number


async def _record(engine: Engine, tenant_id: str, call_sid: str) -> CallRecord:
    for _ in range(100):
        record = await calls.get_call(engine.db, tenant_id, call_sid)
        if record is not None and record.outcome is not None:
            return record
        await asyncio.sleep(0.05)
    raise AssertionError("the call's outcome was never recorded")


async def test_a_caller_from_an_all_party_state_hears_the_notice_first_and_can_say_no(
    engine: Engine,
) -> None:
    tenant_id, number = await _recording_tenant(engine, "all_party_states", "TX")
    caller = "+14155550123"  # San Francisco: California needs every party's consent
    engine.sim.add_script(caller, Script(transcripts=(DECLINE,), replies=(Reply(text="Sure."),)))
    script = CallScript(
        from_number=caller,
        to_number=number,
        steps=(WaitForAgent(timeout=15), Pause(1.0), Speak(DECLINE), WaitForAgent(timeout=15),
               HangUp()),
    )  # fmt: skip
    result = await engine.caller().place_call(script, timeout=60)
    assert result.violations == []
    assert "<Recording" not in result.twiml[0]  # not recorded from the answer
    assert any(NOTICE in s.instructions for s in engine.sim.sessions)
    [recording] = engine.rest.call_recordings[result.call_sid]  # started after the notice
    assert recording.status == "stopped"  # and stopped when the caller said no
    assert recording.params["RecordingStatusCallback"].endswith(
        f"/twilio/recording?tenant={tenant_id}"
    )
    record = await _record(engine, tenant_id, result.call_sid)
    assert record.recording == "declined"

    # Twilio then reports the stopped recording finished: it is deleted there, never kept here
    url = f"{engine.base_url}/twilio/recording?tenant={tenant_id}"
    params = {
        "AccountSid": ACCOUNT_SID,
        "CallSid": result.call_sid,
        "RecordingSid": recording.sid,
        "RecordingStatus": "completed",
        "RecordingDuration": "3",
        "RecordingChannels": "1",
    }
    async with httpx.AsyncClient(timeout=10) as http:
        answer = await http.post(
            url, data=params, headers={"X-Twilio-Signature": engine.caller().sign(url, params)}
        )
    assert answer.status_code == 204
    for _ in range(100):
        if recording.sid in engine.rest.deleted_recordings:
            break
        await asyncio.sleep(0.05)
    assert engine.rest.deleted_recordings == [recording.sid]
    async with tenant_tx(engine.db, tenant_id) as conn:
        kept = await conn.fetchval(
            "SELECT count(*) FROM recordings WHERE call_sid = $1", result.call_sid
        )
    assert kept == 0


async def test_where_no_notice_is_needed_twilio_records_from_the_answer(engine: Engine) -> None:
    tenant_id, number = await _recording_tenant(engine, "all_party_states", "TX")
    caller = "+15125550123"  # Austin: Texas needs one party's consent
    said = "I'd like to check my claim."
    engine.sim.add_script(caller, Script(transcripts=(said,), replies=(Reply(text="Sure."),)))
    script = CallScript(
        from_number=caller,
        to_number=number,
        steps=(WaitForAgent(timeout=15), Speak(said), WaitForAgent(timeout=15), HangUp()),
    )
    result = await engine.caller().place_call(script, timeout=60)
    assert result.violations == []
    assert "<Recording" in result.twiml[0]
    assert result.call_sid not in engine.rest.call_recordings  # nothing started by REST
    record = await _record(engine, tenant_id, result.call_sid)
    assert record.recording == "from_start"
