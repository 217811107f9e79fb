"""Recording consent through whole calls (webhook, tenant and call actors, the realtime and
Twilio REST simulators, Postgres): a caller who must hear the notice first is not recorded from
the answer - the engine starts the recording through the REST API once the notice has played -
and one who says no has it stopped and the call recorded as declined; where no notice is
needed Twilio records from the answer."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import replace

import asyncpg
import httpx
import pytest

from actors.call_session import CallSession
from engine.sim.realtime_script import Reply, Script
from engine.sim.twilio_caller import CallScript, HangUp, Pause, Speak, WaitForAgent
from memory import agent_settings
from memory.audit import SYSTEM
from memory.call_records import CallRecord
from memory.db import tenant_tx
from tests.call_outcome import engine_outcome
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
    return await engine_outcome(engine.db, tenant_id, call_sid)


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


# --- a call resumed on a new actor (the real resume path: the stream is lost, Twilio asks the
# <Connect action>, the webhook grants a resume and a fresh call actor takes the call) ----------


async def _lose_stream_when(engine: Engine, ready: Callable[[CallSession, str], bool]) -> str:
    """Break the first call's media socket, as a lost actor or link would, once `ready` holds
    for its session; returns its CallSid."""
    for _ in range(1500):
        for call_sid, actor in list(engine.pool.actors.items()):
            session = actor._sessions.get(call_sid)
            socket = session._twilio if session is not None else None
            if session is not None and socket is not None and ready(session, call_sid):
                await socket.close(1011, "lost")  # what Twilio sees of a lost actor
                return call_sid
        await asyncio.sleep(0.01)
    raise AssertionError("the moment to lose the stream never came")


def _during_the_notice(session: CallSession, call_sid: str) -> bool:
    state = session._state
    return state.greeted and state.recording == "awaiting_notice"


def _once_recording(engine: Engine) -> Callable[[CallSession, str], bool]:
    return lambda session, call_sid: bool(engine.rest.call_recordings.get(call_sid))


async def test_a_call_lost_during_the_notice_says_it_again_and_then_records_once(
    engine: Engine,
) -> None:
    tenant_id, number = await _recording_tenant(engine, "all_party_states", "TX")
    caller = "+14155550124"  # California: the notice first
    said = "I'd like to check my claim."
    engine.sim.add_script(caller, Script(transcripts=(said,), replies=(Reply(text="Sure."),)))
    script = CallScript(
        from_number=caller,
        to_number=number,
        steps=(WaitForAgent(timeout=15), Pause(1.0), Speak(said), WaitForAgent(timeout=15),
               HangUp()),
    )  # fmt: skip
    placed = asyncio.create_task(engine.caller().place_call(script, timeout=60))
    call_sid = await _lose_stream_when(engine, _during_the_notice)
    assert call_sid not in engine.rest.call_recordings  # lost before the notice had played
    result = await placed

    assert result.violations == []
    assert len(result.streams) == 2  # resumed on a fresh actor
    assert [s.attempt for s in engine.pool.setups] == [0, 1]
    resumed = [s for s in engine.sim.sessions if caller in s.instructions][-1]
    asks = [str(e) for _, e in resumed.received if e["type"] == "response.create"]
    assert NOTICE in asks[0]  # the resumed call says the notice again, first
    assert len(engine.rest.call_recordings[call_sid]) == 1  # then records, once
    heard = result.streams[1].segments
    assert heard
    started_at = next(
        r.time
        for r in engine.rest.requests
        if r.method == "POST" and r.path.endswith(f"/Calls/{call_sid}/Recordings.json")
    )
    assert started_at >= result.streams[1].started_at + heard[0].end - 0.05  # after the notice
    record = await _record(engine, tenant_id, call_sid)
    assert record.recording == "after_notice"


async def test_a_resumed_call_never_starts_a_second_recording_and_can_still_decline_it(
    engine: Engine,
) -> None:
    tenant_id, number = await _recording_tenant(engine, "all_party_states", "TX")
    caller = "+14155550125"
    engine.sim.add_script(caller, Script(transcripts=(DECLINE,), replies=(Reply(text="Sure."),)))
    script = CallScript(
        from_number=caller,
        to_number=number,
        steps=(WaitForAgent(timeout=15), Pause(2.0), WaitForAgent(timeout=15), Speak(DECLINE),
               WaitForAgent(timeout=15), HangUp()),
    )  # fmt: skip
    placed = asyncio.create_task(engine.caller().place_call(script, timeout=60))
    call_sid = await _lose_stream_when(engine, _once_recording(engine))
    result = await placed

    assert result.violations == []
    assert len(result.streams) == 2
    resumed = [s for s in engine.sim.sessions if caller in s.instructions][-1]
    asks = [str(e) for _, e in resumed.received if e["type"] == "response.create"]
    assert NOTICE not in asks[0]  # heard already: not said again
    [recording] = engine.rest.call_recordings[call_sid]  # the first actor's, and only it
    assert recording.status == "stopped"  # the resumed call stopped it when the caller said no
    record = await _record(engine, tenant_id, call_sid)
    assert record.recording == "declined"
