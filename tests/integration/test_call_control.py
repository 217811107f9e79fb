"""Call control through the simulators, one scripted call per behaviour: end_call, transfer,
bad tool arguments, a slow tool's filler, silence, keypad actions, a dropped model socket, and a
refused model key with a fallback number."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest

from actors.memory_actor import MemoryActor
from engine.sim.caller_result import CallResult
from engine.sim.realtime import SimSession
from engine.sim.realtime_script import Reply, Script
from engine.sim.twilio_caller import CallScript, Dtmf, HangUp, Pause, Speak, WaitForAgent
from memory import calls, messages, tenants
from memory.call_records import CallRecord, NewMessage
from memory.db import tenant_tx
from tests.call_outcome import engine_outcome
from tests.conftest import PgUrls
from tests.integration.engine_harness import Engine, one_turn, running_engine

CLAIMS = {"keyword": "claims", "number": "+15550001234", "description": "the claims team"}
FRONT_DESK = {"keyword": "front desk", "number": "+15550005678", "description": "the front desk"}


@pytest.fixture
async def engine(pg_urls: PgUrls, app_pool: asyncpg.Pool, jwt_secret: str) -> AsyncIterator[Engine]:
    async with running_engine(pg_urls.app, jwt_secret, app_pool) as running:
        yield running


async def _record(engine: Engine, tenant_id: str, call_sid: str) -> CallRecord:
    return await engine_outcome(engine.db, tenant_id, call_sid)


def _session(engine: Engine, caller: str, index: int = 0) -> SimSession:
    return [s for s in engine.sim.sessions if caller in s.instructions][index]


def _events(session: SimSession, kind: str) -> list[dict[str, object]]:
    return [e for _, e in session.received if e["type"] == kind]


def _rest_updates(engine: Engine, call_sid: str) -> list[dict[str, str]]:
    return [r.params for r in engine.rest.requests if r.method == "POST" and call_sid in r.path]


def _last_heard_end(result: CallResult) -> float:
    stream = result.streams[-1]
    assert stream.segments, "the caller heard nothing"
    return stream.started_at + stream.segments[-1].end


async def test_end_call_hangs_up_after_the_goodbye_was_heard(engine: Engine) -> None:
    tenant_id, number = await engine.new_tenant()
    caller = "+15550200001"
    engine.sim.add_script(
        caller,
        Script(transcripts=("That's all, thanks.",), replies=(Reply(function="end_call"),)),
    )
    script = CallScript(
        from_number=caller,
        to_number=number,
        steps=(WaitForAgent(timeout=15), Speak("That's all, thanks."), Pause(20)),
    )
    result = await engine.caller().place_call(script, timeout=60)

    assert result.hung_up_via_rest
    updates = _rest_updates(engine, result.call_sid)
    assert updates == [{"Status": "completed"}]
    hang_up_at = next(r.time for r in engine.rest.requests if r.params == updates[0])
    assert hang_up_at >= _last_heard_end(result) - 0.05  # the goodbye had played out
    session = _session(engine, caller)
    goodbye = [e for e in _events(session, "response.create") if "Goodbye" in json.dumps(e)]
    assert len(goodbye) == 1
    record = await _record(engine, tenant_id, result.call_sid)
    assert record.outcome == "agent_hung_up"
    turns = await calls.load_turns(engine.db, tenant_id, result.call_sid)
    assert any(t.role == "tool" and t.text.startswith("end_call") for t in turns)
    assert turns[-1].role == "agent"
    assert "Goodbye" in turns[-1].text


async def test_transfer_redirects_after_the_handoff_played(engine: Engine) -> None:
    tenant_id, number = await engine.new_tenant()
    await tenants.set_call_control(engine.db, tenant_id, transfer_rules=[CLAIMS])
    caller = "+15550200002"
    engine.sim.add_script(
        caller,
        Script(
            transcripts=("I need to talk to someone about my claim.",),
            replies=(Reply(function="transfer_call", arguments='{"target": "claims"}'),),
        ),
    )
    script = CallScript(
        from_number=caller,
        to_number=number,
        steps=(
            WaitForAgent(timeout=15),
            Speak("I need to talk to someone about my claim."),
            Pause(20),
        ),
    )
    result = await engine.caller().place_call(script, timeout=60)

    assert result.transferred_to == CLAIMS["number"]
    updates = _rest_updates(engine, result.call_sid)
    assert len(updates) == 1
    assert "<Dial" in updates[0]["Twiml"]
    assert CLAIMS["number"] in updates[0]["Twiml"]
    redirect_at = next(r.time for r in engine.rest.requests if r.params == updates[0])
    assert redirect_at >= _last_heard_end(result) - 0.05
    session = _session(engine, caller)
    tools = session.session_config["tools"]
    transfer = next(t for t in tools if t["name"] == "transfer_call")
    assert transfer["parameters"]["properties"]["target"]["enum"] == ["claims"]
    record = await _record(engine, tenant_id, result.call_sid)
    assert record.outcome == "transferred"
    assert record.transferred_to == CLAIMS["number"]
    turns = await calls.load_turns(engine.db, tenant_id, result.call_sid)
    assert any("transferring you to the claims team" in t.text for t in turns if t.role == "agent")


async def test_schema_violating_arguments_go_back_to_the_model(engine: Engine) -> None:
    tenant_id, number = await engine.new_tenant()
    caller = "+15550200003"
    engine.sim.add_script(
        caller,
        Script(
            transcripts=("Please take a message.", "Bye."),
            replies=(
                Reply(function="take_message", arguments='{"reason": 5}'),
                Reply(text="Sorry, what should the message say?"),
                Reply(text="Goodbye."),
            ),
        ),
    )
    script = CallScript(
        from_number=caller,
        to_number=number,
        steps=(
            WaitForAgent(timeout=15),
            Speak("Please take a message."),
            WaitForAgent(timeout=15),
            Speak("Bye."),
            WaitForAgent(timeout=15),
            HangUp(),
        ),
    )
    result = await engine.caller().place_call(script, timeout=60)

    session = _session(engine, caller)
    outputs = [
        e["item"]
        for e in _events(session, "conversation.item.create")
        if isinstance(e["item"], dict) and e["item"].get("type") == "function_call_output"
    ]
    assert len(outputs) == 1
    output = json.loads(str(outputs[0]["output"]))
    assert output["ok"] is False
    assert "invalid arguments" in output["error"]
    record = await _record(engine, tenant_id, result.call_sid)
    assert record.outcome == "caller_hung_up"  # the call went on
    assert await messages.list_messages(engine.db, tenant_id) == []
    report = await engine.pool.report_for(result.call_sid)
    assert [(t.tool, t.status, sum(t.counts)) for t in report.tool_ms] == [
        ("take_message", "error", 1)
    ]


class SlowMemory(MemoryActor):
    """The real memory actor, with a message store that takes 1.5 s."""

    async def take_message(self, token: str, message: NewMessage) -> str:
        await asyncio.sleep(1.5)
        return await super().take_message(token, message)


async def test_a_slow_tool_gets_a_spoken_filler_and_is_in_the_tool_metrics(engine: Engine) -> None:
    engine.pool.memory = SlowMemory(engine.config)
    tenant_id, number = await engine.new_tenant()
    caller = "+15550200004"
    arguments = json.dumps({"reason": "Call me about my renewal", "caller_name": "Dana"})
    engine.sim.add_script(
        caller,
        Script(
            transcripts=("Can you have someone call me about my renewal?",),
            replies=(
                Reply(function="take_message", arguments=arguments),
                Reply(text="Done. Someone will call you back."),
            ),
        ),
    )
    script = CallScript(
        from_number=caller,
        to_number=number,
        steps=(
            WaitForAgent(timeout=15),
            Speak("Can you have someone call me about my renewal?"),
            WaitForAgent(timeout=15, quiet_ms=2500),
            HangUp(),
        ),
    )
    result = await engine.caller().place_call(script, timeout=60)

    turns = await calls.load_turns(engine.db, tenant_id, result.call_sid)
    agent = [t.text for t in turns if t.role == "agent"]
    assert "One moment while I check that." in agent
    assert agent.index("One moment while I check that.") < agent.index(
        "Done. Someone will call you back."
    )
    stored = await messages.list_messages(engine.db, tenant_id)
    assert [(m.reason, m.caller_name, m.call_sid) for m in stored] == [
        ("Call me about my renewal", "Dana", result.call_sid)
    ]
    # the tool call and its filler are in the pool's metrics, as /metrics exports them
    async with httpx.AsyncClient(base_url=engine.base_url) as http:
        for _ in range(100):  # the call's report reaches the pool after its outcome is written
            text = (await http.get("/metrics")).text
            if "neurosphere_tool_fillers_total{" in text:
                break
            await asyncio.sleep(0.05)
    samples = {
        line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("neurosphere_tool_")
    }
    ok = '{outcome="ok",tool="take_message"}'
    assert samples["neurosphere_tool_seconds_count" + ok] == 1
    assert 1.5 <= samples["neurosphere_tool_seconds_sum" + ok] < 3.0  # the store takes 1.5 s
    assert samples['neurosphere_tool_fillers_total{tool="take_message"}'] == 1
    await engine.pool.memory.close()


async def test_silence_asks_then_hangs_up(engine: Engine) -> None:
    tenant_id, number = await engine.new_tenant()
    await tenants.set_call_control(engine.db, tenant_id, silence_timeout_s=3)
    script = CallScript(
        from_number="+15550200005",
        to_number=number,
        steps=(WaitForAgent(timeout=15), Pause(30)),
    )
    result = await engine.caller().place_call(script, timeout=60)

    assert result.hung_up_via_rest
    turns = await calls.load_turns(engine.db, tenant_id, result.call_sid)
    said = [(t.role, t.text) for t in turns]
    still_there = said.index(("agent", "Are you still there?"))
    goodbye = next(i for i, (r, t) in enumerate(said) if r == "agent" and "end the call" in t)
    assert still_there < goodbye
    record = await _record(engine, tenant_id, result.call_sid)
    assert record.outcome == "agent_hung_up"
    assert result.duration_s < 29  # the engine ended it, not the caller's 30 s pause


async def test_keypad_zero_transfers_to_the_front_desk(engine: Engine) -> None:
    tenant_id, number = await engine.new_tenant()
    await tenants.set_call_control(
        engine.db,
        tenant_id,
        transfer_rules=[CLAIMS, FRONT_DESK],
        dtmf_actions={"0": {"action": "transfer", "target": "front desk"}},
    )
    script = CallScript(
        from_number="+15550200006",
        to_number=number,
        steps=(WaitForAgent(timeout=15), Dtmf("0"), Pause(20)),
    )
    result = await engine.caller().place_call(script, timeout=60)

    assert result.transferred_to == FRONT_DESK["number"]
    record = await _record(engine, tenant_id, result.call_sid)
    assert record.outcome == "transferred"
    turns = await calls.load_turns(engine.db, tenant_id, result.call_sid)
    assert ("dtmf", "0") in [(t.role, t.text) for t in turns]


async def test_dropped_model_socket_reconnects_with_history_and_one_greeting(
    engine: Engine,
) -> None:
    tenant_id, number = await engine.new_tenant(agent_name="Morgan")
    caller = "+15550200007"
    engine.sim.add_script(
        caller,
        Script(
            transcripts=("My car was hit in a parking lot.",),
            replies=(Reply(text="I'm sorry to hear that. Was anyone hurt?"),),
        ),
    )
    dropped = asyncio.Event()

    async def drop_when_first_reply_done() -> None:
        for _ in range(400):
            sessions = [s for s in engine.sim.sessions if caller in s.instructions]
            done = (
                [e for _, e in sessions[0].sent if e["type"] == "response.done"] if sessions else []
            )
            if len(done) >= 2:  # greeting and the first reply
                await asyncio.sleep(0.8)
                engine.sim.add_script(
                    caller,
                    Script(
                        transcripts=("No, nobody was hurt.",),
                        replies=(Reply(text="Good. Let's start your claim."),),
                    ),
                )
                engine.sim.drop_all()
                dropped.set()
                return
            await asyncio.sleep(0.05)

    dropper = asyncio.create_task(drop_when_first_reply_done())
    script = CallScript(
        from_number=caller,
        to_number=number,
        steps=(
            WaitForAgent(timeout=15),
            Speak("My car was hit in a parking lot."),
            WaitForAgent(timeout=15),
            Pause(1.5),
            Speak("No, nobody was hurt."),
            WaitForAgent(timeout=15),
            HangUp(),
        ),
    )
    result = await engine.caller().place_call(script, timeout=90)
    await dropper
    assert dropped.is_set()

    first, second = _session(engine, caller, 0), _session(engine, caller, 1)
    replayed = [
        e["item"]
        for e in _events(second, "conversation.item.create")
        if isinstance(e["item"], dict) and e["item"].get("type") == "message"
    ]
    texts = [str(item["content"]) for item in replayed]
    assert any("My car was hit" in t for t in texts)
    assert any("Was anyone hurt" in t for t in texts)
    assert not any("Morgan" in json.dumps(e) for e in _events(second, "response.create"))
    assert len(_events(first, "response.create")) >= 1
    turns = await calls.load_turns(engine.db, tenant_id, result.call_sid)
    said = [(t.role, t.text) for t in turns]
    assert sum(1 for r, t in said if r == "agent" and "Morgan" in t) == 1  # one greeting
    assert ("caller", "No, nobody was hurt.") in said
    assert ("agent", "Good. Let's start your claim.") in said
    assert [t.seq for t in turns] == list(range(len(turns)))
    report = await engine.pool.report_for(result.call_sid)
    assert report.model_reconnects == 1
    assert report.model_gap_ms is not None
    assert report.outcome == "caller_hung_up"
    print(f"model reconnect gap: {report.model_gap_ms:.0f} ms")


async def test_refused_model_key_apologises_and_dials_the_fallback(engine: Engine) -> None:
    tenant_id, number = await engine.new_tenant()
    await tenants.set_call_control(engine.db, tenant_id, fallback_number="+15550009999")
    engine.sim.fail_next_session(401)
    script = CallScript(
        from_number="+15550200008", to_number=number, steps=(WaitForAgent(timeout=5), HangUp())
    )
    result = await engine.caller().place_call(script, timeout=30)
    record = await _record(engine, tenant_id, result.call_sid)
    assert record.outcome == "model_failed"
    assert result.said
    assert "technical trouble" in result.said[-1]
    assert result.transferred_to == "+15550009999"


async def test_long_sessions_rotate_without_a_second_greeting(
    pg_urls: PgUrls, app_pool: asyncpg.Pool, jwt_secret: str
) -> None:
    async with running_engine(pg_urls.app, jwt_secret, app_pool, session_max_s=4.0) as engine:
        tenant_id, number = await engine.new_tenant(agent_name="Quinn")
        caller = "+15550200009"
        script = Script(transcripts=("Still here.",), replies=(Reply(text="Great."),))
        engine.sim.add_script(caller, script)
        steps = (
            WaitForAgent(timeout=15),
            Pause(6),
            Speak("Still here."),
            WaitForAgent(timeout=15),
            HangUp(),
        )
        result = await engine.caller().place_call(
            CallScript(from_number=caller, to_number=number, steps=steps), timeout=60
        )
        sessions = [s for s in engine.sim.sessions if caller in s.instructions]
        assert len(sessions) >= 2
        for later in sessions[1:]:
            assert not any("Quinn" in json.dumps(e) for e in _events(later, "response.create"))
        turns = await calls.load_turns(engine.db, tenant_id, result.call_sid)
        assert sum(1 for t in turns if t.role == "agent" and "Quinn" in t.text) == 1
        record = await _record(engine, tenant_id, result.call_sid)
        assert record.outcome == "caller_hung_up"


async def test_recorded_calls_open_with_consent_and_store_redacted_transcripts(
    engine: Engine,
) -> None:
    tenant_id, number = await engine.new_tenant(record_calls=True)
    async with tenant_tx(engine.db, tenant_id) as conn:
        await conn.execute(
            "UPDATE agent_configs SET recording_consent = $2, pii_redaction = true "
            "WHERE tenant_id = $1",
            uuid.UUID(tenant_id),
            "This call is recorded for quality.",
        )
    caller = "+15550200010"
    said = "My card is 4111 1111 1111 1111 and my SSN is 123-45-6789."
    engine.sim.add_script(caller, Script(transcripts=(said,), replies=(Reply(text="Thanks."),)))
    result = await engine.caller().place_call(one_turn(caller, number, said), timeout=60)
    # recorded only once the notice has played: started through the REST API, not by TwiML
    assert "<Recording" not in result.twiml[0]
    assert [r.status for r in engine.rest.call_recordings[result.call_sid]] == ["completed"]
    turns = await calls.load_turns(engine.db, tenant_id, result.call_sid)
    assert turns[0].text.startswith("This call is recorded for quality.")
    caller_turns = [t.text for t in turns if t.role == "caller"]
    assert caller_turns == ["My card is [card number] and my SSN is [SSN]."]
