"""Warm transfer through the simulators: the caller holds in a conference while the Twilio fake
calls the target, who hears who is calling and why and presses 1 to take the call; busy, no
answer and a decline bring the caller back to the agent, which takes a message. Bad input:
callbacks for a call with no warm transfer, malformed ones, unsigned ones."""

from __future__ import annotations

import asyncio
import json
import statistics
from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest

from engine.secret_box import WEBHOOK_LABEL, SecretBox
from engine.sim.caller_result import CallResult
from engine.sim.realtime_script import Reply, Script
from engine.sim.twilio_caller import CallScript, HangUp, Pause, Speak, WaitForAgent
from engine.sim.twilio_phones import Phone, TargetPhones
from memory import calls, outbox_admin, tenants
from memory.audit import SYSTEM
from memory.db import tenant_tx
from tests.conftest import PgUrls
from tests.integration.engine_harness import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    Engine,
    running_engine,
)

CLAIMS = {
    "keyword": "claims",
    "number": "+15550001234",
    "description": "the claims team",
    "mode": "warm",
}
ASK = "I need to talk to someone about my claim."
TRANSFER = {"target": "claims", "reason": "a question about the rental car on claim 4471"}
MESSAGE = "Please have them call me back this afternoon."


@pytest.fixture
async def engine(pg_urls: PgUrls, app_pool: asyncpg.Pool, jwt_secret: str) -> AsyncIterator[Engine]:
    async with running_engine(pg_urls.app, jwt_secret, app_pool) as running:
        yield running


@pytest.fixture
def phones(engine: Engine) -> TargetPhones:
    return TargetPhones(
        engine.rest,
        webhook_base=engine.base_url,
        public_base_url=engine.config.public_base_url,
        auth_tokens={ACCOUNT_SID: AUTH_TOKEN},
    )


async def _tenant(engine: Engine, jwt_secret: str) -> tuple[str, str]:
    tenant_id, number = await engine.new_tenant()
    await tenants.set_call_control(engine.db, tenant_id, transfer_rules=[CLAIMS])
    sealed = SecretBox(jwt_secret, WEBHOOK_LABEL).seal("whsec-warm")
    await outbox_admin.create_endpoint(
        engine.db, tenant_id, "https://127.0.0.1:9/hook", sealed, [], SYSTEM
    )
    return tenant_id, number


def _asks_for_claims(engine: Engine, caller: str) -> None:
    engine.sim.add_script(
        caller,
        Script(
            transcripts=(ASK,),
            replies=(Reply(function="transfer_call", arguments=json.dumps(TRANSFER)),),
        ),
    )


async def _row(engine: Engine, tenant_id: str, call_sid: str, until: str) -> asyncpg.Record:
    row = None
    for _ in range(100):
        async with tenant_tx(engine.db, tenant_id) as conn:
            row = await conn.fetchrow(
                "SELECT * FROM calls WHERE tenant_id = $1::uuid AND call_sid = $2",
                tenant_id,
                call_sid,
            )
        if row is not None and row["transfer_result"] is not None and row[until] is not None:
            return row
        await asyncio.sleep(0.05)
    raise AssertionError(f"call {call_sid} not settled: {dict(row) if row else None}")


async def _events(engine: Engine, tenant_id: str) -> dict[str, dict[str, object]]:
    async with tenant_tx(engine.db, tenant_id) as conn:
        rows = await conn.fetch(
            "SELECT event_type, payload FROM outbox WHERE tenant_id = $1::uuid", tenant_id
        )
    return {r["event_type"]: r["payload"]["data"] for r in rows}


async def _accepted_call(engine: Engine, tenant_id: str, number: str, caller: str) -> CallResult:
    _asks_for_claims(engine, caller)
    script = CallScript(
        from_number=caller,
        to_number=number,
        steps=(WaitForAgent(timeout=15), Speak(ASK), Pause(30)),
    )
    return await engine.caller().place_call(script, timeout=60)


async def test_accepted_warm_transfer_joins_the_caller_after_the_whisper(
    engine: Engine, phones: TargetPhones, jwt_secret: str
) -> None:
    tenant_id, number = await _tenant(engine, jwt_secret)
    caller = "+15550300001"
    result = await _accepted_call(engine, tenant_id, number, caller)

    assert not result.violations, result.violations
    hold_ms = result.hold_ms()
    assert result.joined_at is not None
    assert hold_ms is not None
    assert "Please hold while I connect you." in result.said
    # the caller was put in the conference over REST, the target called with the whisper
    updates = [r.params for r in engine.rest.requests if result.call_sid in r.path]
    assert "<Conference" in updates[0]["Twiml"]
    assert 'startConferenceOnEnter="false"' in (updates[0]["Twiml"])
    [placed] = phones.placed
    assert placed.to == CLAIMS["number"]
    create = next(r for r in engine.rest.requests if r.path.endswith("/Calls.json"))
    assert create.params["From"] == number  # the agency's number calls the target
    summary = " ".join(placed.heard)
    assert "the claims team" in summary
    assert "5 5 5 0 3 0 0 0 0 1" in summary
    assert "a question about the rental car on claim 4471" in summary  # the model's reason
    assert "Press 1" in summary
    assert placed.pressed == ["1"]
    assert [s for s, _ in placed.statuses] == ["initiated", "ringing", "in-progress", "completed"]
    assert all(code == 204 for _, code in placed.statuses)  # signed callbacks accepted
    assert placed.joined_at is not None
    assert result.joined_at >= placed.joined_at - 0.01
    row = await _row(engine, tenant_id, result.call_sid, "transfer_joined_at")
    assert row["transfer_result"] == "completed"
    assert row["outcome"] == "transferred"
    assert row["transferred_to"] == CLAIMS["number"]
    events = await _events(engine, tenant_id)
    assert events["transfer.completed"]["transferred_to"] == CLAIMS["number"]
    assert events["transfer.completed"]["warm"] is True
    assert "transfer.failed" not in events
    print(f"warm transfer hold (caller on hold -> joined): {hold_ms:.0f} ms")


async def test_warm_transfer_hold_time_over_several_calls(
    engine: Engine, phones: TargetPhones, jwt_secret: str
) -> None:
    """The hold the caller hears: into the conference -> the person joined (ring 0.5 s)."""
    tenant_id, number = await _tenant(engine, jwt_secret)
    holds = []
    for i in range(5):
        result = await _accepted_call(engine, tenant_id, number, f"+1555031000{i}")
        hold = result.hold_ms()
        assert hold is not None
        assert result.joined_at is not None
        holds.append(hold)
    print(
        f"warm transfer hold over {len(holds)} calls: min {min(holds):.0f} ms, "
        f"median {statistics.median(holds):.0f} ms, max {max(holds):.0f} ms"
    )
    assert statistics.median(holds) < 5000  # ring 0.5 s + summary + keypress, all simulated


async def _returned_call(
    engine: Engine, phones: TargetPhones, jwt_secret: str, phone: Phone, caller: str
) -> tuple[str, CallResult]:
    tenant_id, number = await _tenant(engine, jwt_secret)
    phones.phones[CLAIMS["number"]] = phone
    engine.sim.add_script(  # first: the resumed session's instructions name the caller too
        "The transfer did not go through",
        Script(
            transcripts=(MESSAGE,),
            replies=(
                Reply(text="I'm sorry, nobody could take your call. Can I take a message?"),
                Reply(
                    function="take_message",
                    arguments=json.dumps(
                        {
                            "caller_name": "Pat",
                            "reason": "claim question",
                            "preferred_time": "afternoon",
                        }
                    ),
                ),
            ),
        ),
    )
    _asks_for_claims(engine, caller)
    script = CallScript(
        from_number=caller,
        to_number=number,
        steps=(
            WaitForAgent(timeout=15),
            Speak(ASK),
            WaitForAgent(timeout=20),  # the agent again, after the hold
            Speak(MESSAGE),
            Pause(3),
            HangUp(),
        ),
    )
    result = await engine.caller().place_call(script, timeout=60)
    return tenant_id, result


@pytest.mark.parametrize(
    ("phone", "expected"),
    [
        (Phone(answer="no-answer"), "no-answer"),
        (Phone(answer="busy"), "busy"),
        (Phone(answer="decline"), "declined"),
        (Phone(answer="hang-up"), "declined"),
        (Phone(answer="silent"), "declined"),
    ],
    ids=["no-answer", "busy", "declined-key", "hung-up", "never-pressed"],
)
async def test_failed_warm_transfer_brings_the_caller_back_to_take_a_message(
    engine: Engine, phones: TargetPhones, jwt_secret: str, phone: Phone, expected: str
) -> None:
    caller = f"+1555032{abs(hash(expected + phone.answer)) % 10000:04d}"
    tenant_id, result = await _returned_call(engine, phones, jwt_secret, phone, caller)

    assert result.held_at is not None
    assert result.joined_at is None
    assert len(result.streams) == 2, "the caller came back to the agent on a new stream"
    assert result.streams[1].heard_bytes > 0
    [placed] = phones.placed
    assert placed.joined_at is None
    row = await _row(engine, tenant_id, result.call_sid, "ended_at")
    assert row["transfer_result"] == expected
    assert row["outcome"] != "transferred"
    turns = await calls.load_turns(engine.db, tenant_id, result.call_sid)
    assert any(t.role == "system" and "did not go through" in t.text for t in turns)
    async with tenant_tx(engine.db, tenant_id) as conn:
        taken = await conn.fetchval(
            "SELECT count(*) FROM messages WHERE tenant_id = $1::uuid AND call_sid = $2",
            tenant_id,
            result.call_sid,
        )
    assert taken == 1
    events = await _events(engine, tenant_id)
    assert events["transfer.failed"]["result"] == expected
    assert "transfer.completed" not in events
    print(f"{expected}: caller held {result.hold_ms():.0f} ms before coming back")


async def test_a_caller_who_hangs_up_on_hold_is_neither_transferred_nor_brought_back(
    engine: Engine, phones: TargetPhones, jwt_secret: str
) -> None:
    """The caller gives up before the person answers; the person then presses 1 and is told
    the caller has gone, instead of being put in an empty conference."""
    tenant_id, number = await _tenant(engine, jwt_secret)
    phones.phones[CLAIMS["number"]] = Phone(ring_s=1.0)
    caller = "+15550300090"
    _asks_for_claims(engine, caller)
    script = CallScript(
        from_number=caller,
        to_number=number,
        steps=(WaitForAgent(timeout=15), Speak(ASK), Pause(30)),
        hold_patience_s=0.3,
    )
    result = await engine.caller().place_call(script, timeout=60)

    assert result.held_at is not None
    assert result.joined_at is None
    assert len(result.streams) == 1
    for _ in range(100):
        if phones.placed and phones.placed[0].ended_at is not None:
            break
        await asyncio.sleep(0.05)
    [placed] = phones.placed
    assert placed.pressed == ["1"]
    assert placed.joined_at is None, "the person was put into an empty conference"
    assert any("hung up" in line for line in placed.heard), placed.heard
    row = await _row(engine, tenant_id, result.call_sid, "ended_at")
    assert row["transfer_result"] == "caller-hung-up"
    assert row["outcome"] == "caller_hung_up"
    events = await _events(engine, tenant_id)
    assert events["transfer.failed"]["result"] == "caller-hung-up"
    assert "transfer.completed" not in events
    returns = [r for r in engine.rest.requests if "/twilio/warm/return" in r.params.get("Url", "")]
    assert returns == []  # nobody to bring back


# --- bad input -----------------------------------------------------------------------------


def _signed(engine: Engine, url: str, params: dict[str, str]) -> dict[str, str]:
    return {"X-Twilio-Signature": engine.caller().sign(url, params)}


async def test_callbacks_for_a_call_with_no_warm_transfer_change_nothing(
    engine: Engine, jwt_secret: str
) -> None:
    tenant_id, _number = await _tenant(engine, jwt_secret)
    held = "CA" + "1" * 32  # no such call
    target = "CA" + "2" * 32
    base = engine.config.public_base_url
    params = {"CallSid": target, "AccountSid": ACCOUNT_SID, "To": CLAIMS["number"], "Digits": "1"}
    async with httpx.AsyncClient(base_url=engine.base_url) as http:
        url = f"{base}/twilio/warm/accept?tenant={tenant_id}&call={held}"
        accept = await http.post(
            url.removeprefix(base), data=params, headers=_signed(engine, url, params)
        )
        assert accept.status_code == 404
        decline = dict(params, Digits="2")
        declined = await http.post(
            url.removeprefix(base), data=decline, headers=_signed(engine, url, decline)
        )
        assert declined.status_code == 404
        status = {"CallSid": target, "AccountSid": ACCOUNT_SID, "CallStatus": "busy"}
        url = f"{base}/twilio/warm/status?tenant={tenant_id}&call={held}"
        busy = await http.post(
            url.removeprefix(base), data=status, headers=_signed(engine, url, status)
        )
        assert busy.status_code == 204  # Twilio's answer; nothing to bring back
        bad = f"{base}/twilio/warm/status?tenant={tenant_id}&call=CF123"
        malformed = await http.post(
            bad.removeprefix(base), data=status, headers=_signed(engine, bad, status)
        )
        assert malformed.status_code == 400
    assert engine.rest.requests == []  # nobody was redirected
    assert await _events(engine, tenant_id) == {}


async def test_unsigned_warm_transfer_callbacks_are_refused(
    engine: Engine, phones: TargetPhones, jwt_secret: str
) -> None:
    tenant_id, number = await _tenant(engine, jwt_secret)
    phones.phones[CLAIMS["number"]] = Phone(answer="accept", ring_s=3.0)
    caller = "+15550330001"
    _asks_for_claims(engine, caller)
    script = CallScript(
        from_number=caller,
        to_number=number,
        steps=(WaitForAgent(timeout=15), Speak(ASK), Pause(30)),
    )
    call = asyncio.create_task(engine.caller().place_call(script, timeout=60))
    for _ in range(800):  # the target is ringing: a forged answer must not take the caller
        if phones.placed:
            break
        await asyncio.sleep(0.05)
    [placed] = phones.placed
    held = next(r for r in engine.rest.requests if "Calls/CA" in r.path).path.split("/")[-1][:-5]
    base = engine.config.public_base_url
    params = {"CallSid": placed.call_sid, "AccountSid": ACCOUNT_SID, "Digits": "2"}
    async with httpx.AsyncClient(base_url=engine.base_url) as http:
        for route in ("accept", "status", "hold", "return"):
            url = f"/twilio/warm/{route}?tenant={tenant_id}&call={held}"
            form = dict(params, CallSid=held) if route in ("hold", "return") else params
            unsigned = await http.post(url, data=form)
            assert unsigned.status_code == 403, route
            forged = await http.post(
                url, data=form, headers={"X-Twilio-Signature": "AAAAAAAAAAAAAAAAAAAAAAAAAAA="}
            )
            assert forged.status_code == 403, route
        # signed over other parameters than were sent
        url = f"{base}/twilio/warm/accept?tenant={tenant_id}&call={held}"
        tampered = await http.post(
            url.removeprefix(base),
            data=params,
            headers=_signed(engine, url, dict(params, Digits="1")),
        )
        assert tampered.status_code == 403
    result = await call
    assert result.joined_at is not None  # the real answer still went through
    row = await _row(engine, tenant_id, result.call_sid, "transfer_joined_at")
    assert row["transfer_result"] == "completed"
