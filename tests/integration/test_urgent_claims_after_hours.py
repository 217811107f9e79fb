"""Urgent claims after hours, through the simulators: with the office closed, a caller whose
claim is urgent (an injury, a car that cannot be driven) is put through to the agency's
after-hours number and the staff are texted at once; without such a number the staff are
texted and the caller told they will call back; a claim that is not urgent is a message, and
nobody is transferred or texted as urgent."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import asyncpg
import pytest

from engine.sim.realtime_script import Reply, Script
from engine.sim.twilio_caller import CallScript, Pause, Speak, WaitForAgent
from engine.urgent_claims import UrgentClaims
from memory import messages, staff_texts, urgent_settings
from memory.audit import SYSTEM
from tests.conftest import PgUrls
from tests.integration.engine_harness import Engine, running_engine
from tests.integration.test_after_hours_call import closed_today, outcome

ON_CALL = "+15550009911"
STAFF = "+15550009922"
CONDITIONS = ("someone was injured", "a vehicle cannot be driven")


@pytest.fixture
async def engine(pg_urls: PgUrls, app_pool: asyncpg.Pool, jwt_secret: str) -> AsyncIterator[Engine]:
    async with running_engine(pg_urls.app, jwt_secret, app_pool) as running:
        yield running


async def closed_agency(engine: Engine, number: str | None) -> tuple[str, str]:
    tenant_id, agency_number = await engine.new_tenant(agent_name="Quinn")
    await closed_today(engine, tenant_id)
    urgent = UrgentClaims(CONDITIONS, number)
    assert await urgent_settings.set_urgent(engine.db, tenant_id, urgent, actor=SYSTEM)
    await staff_texts.set_recipient(engine.db, tenant_id, STAFF, ["message.taken"], SYSTEM)
    return tenant_id, agency_number


async def texts_to(engine: Engine, number: str, count: int) -> list[dict[str, str]]:
    for _ in range(300):
        sent = [m for m in engine.rest.messages if m["to"] == number]
        if len(sent) >= count:
            return sent
        await asyncio.sleep(0.05)
    raise AssertionError(f"{count} text(s) to {number} never came")


def report(condition: str, details: str) -> Reply:
    args = {"condition": condition, "details": details, "caller_name": "Robin"}
    return Reply(function="report_urgent_claim", arguments=json.dumps(args))


def call(caller: str, to: str, said: str) -> CallScript:
    return CallScript(
        from_number=caller,
        to_number=to,
        steps=(WaitForAgent(timeout=15), Speak(said), WaitForAgent(timeout=15), Pause(1)),
    )


async def test_an_urgent_claim_is_put_through_and_the_staff_texted(engine: Engine) -> None:
    tenant_id, number = await closed_agency(engine, ON_CALL)
    caller = "+15550310001"
    said = "I just crashed my car on the highway, my son is hurt."
    engine.sim.add_script(
        caller,
        Script(
            transcripts=(said,),
            replies=(report("someone was injured", "car crash on the highway, son hurt"),),
        ),
    )
    result = await engine.caller().place_call(call(caller, number, said), timeout=90)

    assert result.violations == []
    assert result.transferred_to == ON_CALL
    session = next(s for s in engine.sim.sessions if caller in s.instructions)
    offered = [t["name"] for t in session.session_config.get("tools") or []]
    assert "report_urgent_claim" in offered
    assert "transfer_call" not in offered
    assert "Urgent claims still go through" in session.instructions
    assert "someone was injured; or a vehicle cannot be driven" in session.instructions
    record = await outcome(engine, tenant_id, result.call_sid)
    assert (record.outcome, record.transferred_to) == ("transferred", ON_CALL)
    (text,) = await texts_to(engine, STAFF, 1)
    assert text["body"].startswith("URGENT claim after hours (someone was injured) from Robin")
    assert text["from"] == number
    (taken,) = [m for m in await messages.list_messages(engine.db, tenant_id)]
    assert taken.reason.startswith("Urgent claim (someone was injured)")
    assert taken.urgent == "someone was injured"


async def test_without_an_on_call_number_the_staff_are_texted(engine: Engine) -> None:
    tenant_id, number = await closed_agency(engine, None)
    caller = "+15550310002"
    said = "A tree fell on my car, it cannot be driven at all."
    engine.sim.add_script(
        caller,
        Script(
            transcripts=(said,),
            replies=(report("a vehicle cannot be driven", "tree fell on the car"),),
        ),
    )
    result = await engine.caller().place_call(call(caller, number, said), timeout=90)

    assert result.violations == []
    assert result.transferred_to is None
    assert [r for r in engine.rest.requests if "<Dial" in r.params.get("Twiml", "")] == []
    session = next(s for s in engine.sim.sessions if caller in s.instructions)
    assert "who call back as soon as they can" in session.instructions
    (text,) = await texts_to(engine, STAFF, 1)
    assert "URGENT claim after hours (a vehicle cannot be driven)" in text["body"]
    record = await outcome(engine, tenant_id, result.call_sid)
    assert record.transferred_to is None


async def test_a_claim_that_is_not_urgent_is_a_message(engine: Engine) -> None:
    tenant_id, number = await closed_agency(engine, ON_CALL)
    caller = "+15550310003"
    said = "Someone scratched my parked car, nobody is hurt, it drives fine."
    engine.sim.add_script(
        caller,
        Script(
            transcripts=(said,),
            replies=(
                # The model may still try the urgent tool with a condition that is not one of
                # the agency's: refused by the schema, nothing happens.
                Reply(
                    function="report_urgent_claim",
                    arguments=json.dumps({"condition": "a scratch", "details": "scratch"}),
                ),
                Reply(
                    function="take_message",
                    arguments=json.dumps({"reason": "scratched parked car", "caller_name": "Lee"}),
                ),
            ),
        ),
    )
    result = await engine.caller().place_call(call(caller, number, said), timeout=90)

    assert result.violations == []
    assert result.transferred_to is None
    assert [r for r in engine.rest.requests if "<Dial" in r.params.get("Twiml", "")] == []
    (text,) = await texts_to(engine, STAFF, 1)
    assert text["body"].startswith("New message from Lee")
    assert "URGENT" not in text["body"]
    record = await outcome(engine, tenant_id, result.call_sid)
    assert record.outcome != "transferred"
    taken = await messages.list_messages(engine.db, tenant_id)
    assert [(m.reason, m.urgent) for m in taken] == [("scratched parked car", None)]
