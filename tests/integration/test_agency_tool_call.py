"""A scripted call that uses the agency's own tools, through the simulators: the model is
offered them in session.update, the engine posts the validated arguments to the agency-server
simulator, signed, speaks the filler while a slow one runs, and hands the answer to the model;
an agency server that fails (503) becomes a polite "couldn't look that up", and the call goes on."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest

from engine import agency_tools
from engine.secret_box import TOOL_LABEL, SecretBox
from engine.sim.agency_server import AgencyServer, Behaviour
from engine.sim.realtime_script import Reply, Script
from engine.sim.twilio_caller import CallScript, HangUp, Speak, WaitForAgent
from memory import calls, tenant_tools
from memory.audit import SYSTEM
from memory.tenant_tools import ToolDraft
from tests.conftest import PgUrls
from tests.integration.engine_harness import Engine, running_engine

POLICY: dict[str, Any] = {
    "type": "object",
    "properties": {"policy_number": {"type": "string", "pattern": "^P-[0-9]{4}$"}},
    "required": ["policy_number"],
    "additionalProperties": False,
}


@pytest.fixture
async def engine(pg_urls: PgUrls, app_pool: asyncpg.Pool, jwt_secret: str) -> AsyncIterator[Engine]:
    async with running_engine(pg_urls.app, jwt_secret, app_pool) as running:
        yield running


@pytest.fixture
async def agency() -> AsyncIterator[AgencyServer]:
    async with AgencyServer() as server:
        yield server


async def add_tool(engine: Engine, tenant_id: str, server: AgencyServer, name: str) -> None:
    draft = ToolDraft(
        name=name,
        description=f"Look up {name.replace('_', ' ')} in the agency's system.",
        parameters=POLICY,
        url=server.url(name),
        sealed_secret=SecretBox(engine.config.jwt_secret, TOOL_LABEL).seal(server.secret),
        timeout_ms=3000,
    )
    await tenant_tools.create_tool(engine.db, tenant_id, draft, SYSTEM)


def outputs(items: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    calls_by_id = {i["call_id"]: i["name"] for i in items if i["type"] == "function_call"}
    return {
        calls_by_id[i["call_id"]]: json.loads(i["output"])
        for i in items
        if i["type"] == "function_call_output"
    }


async def test_a_call_uses_the_agencys_tools_and_survives_a_failing_one(
    engine: Engine, agency: AgencyServer
) -> None:
    tenant_id, number = await engine.new_tenant()
    await add_tool(engine, tenant_id, agency, "policy_status")
    await add_tool(engine, tenant_id, agency, "claim_status")
    agency.behaviours["policy_status"] = Behaviour(
        answer={"status": "active", "renews": "2027-03-01"}, delay_s=1.3
    )
    agency.behaviours["claim_status"] = Behaviour(status=503)
    caller = "+15550400001"
    engine.sim.add_script(
        caller,
        Script(
            transcripts=("Is policy P-1234 still active?", "And my claim on it?"),
            replies=(
                Reply(function="policy_status", arguments='{"policy_number": "P-1234"}'),
                Reply(text="Yes, it is active and renews in March."),
                Reply(function="claim_status", arguments='{"policy_number": "P-1234"}'),
                Reply(text="I couldn't look that up just now. Shall I take a message?"),
            ),
        ),
    )
    script = CallScript(
        from_number=caller,
        to_number=number,
        steps=(
            WaitForAgent(timeout=15),
            Speak("Is policy P-1234 still active?"),
            WaitForAgent(timeout=15, quiet_ms=2500),
            Speak("And my claim on it?"),
            WaitForAgent(timeout=15, quiet_ms=1500),
            HangUp(),
        ),
    )
    result = await engine.caller().place_call(script, timeout=90)

    assert result.violations == []
    session = next(s for s in engine.sim.sessions if caller in s.instructions)
    offered = {t["name"]: t for t in session.session_config.get("tools") or []}
    assert offered["policy_status"]["parameters"] == POLICY
    assert "claim_status" in offered
    assert "take_message" in offered
    answers = outputs(session.items())
    assert answers["policy_status"] == {
        "ok": True,
        "result": {"status": "active", "renews": "2027-03-01"},
    }
    assert answers["claim_status"] == agency_tools.UNAVAILABLE
    assert [r.tool for r in agency.requests] == ["policy_status", "claim_status"]
    assert all(r.body["arguments"] == {"policy_number": "P-1234"} for r in agency.requests)
    assert all(r.body["call_sid"] == result.call_sid for r in agency.requests)
    assert agency.bad_signatures == 0
    turns = await calls.load_turns(engine.db, tenant_id, result.call_sid)
    agent = [t.text for t in turns if t.role == "agent"]
    assert "One moment while I check that." in agent  # the slow lookup's filler
    assert agent.index("One moment while I check that.") < agent.index(
        "Yes, it is active and renews in March."
    )
    assert "I couldn't look that up just now. Shall I take a message?" in agent
    tools_said = [t.text for t in turns if t.role == "tool"]
    assert any(t.startswith("policy_status(") for t in tools_said)
    # counted under one label for every agency's tools, as /metrics exports them
    async with httpx.AsyncClient(base_url=engine.base_url) as http:
        for _ in range(100):  # the call's report reaches the pool after its outcome is written
            text = (await http.get("/metrics")).text
            if 'tool="custom"' in text:
                break
            await asyncio.sleep(0.05)
    counts = {
        line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("neurosphere_tool_seconds_count")
    }
    assert counts['neurosphere_tool_seconds_count{outcome="ok",tool="custom"}'] == 1
    assert counts['neurosphere_tool_seconds_count{outcome="error",tool="custom"}'] == 1
    assert "policy_status" not in text
