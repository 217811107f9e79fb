"""The tools at work (actors.call_tools.run_tool) with a fixed clock and a hand-written memory
client: every outcome, success or failure, comes back as a ToolResult and nothing raises."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from structlog.testing import capture_logs

from actors.call_tools import ToolContext, ToolRun, run_tool
from actors.ports import MemoryClient, TurnBatch
from engine import call_events as ev
from engine import call_state as cs
from engine import realtime_codec as rt
from engine import twilio_codec as tw
from engine.audio import b64
from engine.call_events import ToolResult
from engine.config import TenantConfig, TransferRule
from engine.tools import ToolSpec, tool_specs
from engine.verification import Attempt
from memory.call_records import CallEnd, CallStart, NewMessage, Turn
from memory.caller_records import JsonInput, NewMemory, SearchHit
from prompts import call_lines
from prompts.context import CallerContext

CLAIMS = TransferRule("claims", "+15550100", "our claims team")
FRONT_DESK = TransferRule("front desk", "+15550111")
TENANT = TenantConfig(tenant_id="t1", name="Acme Insurance", transfer_rules=(CLAIMS, FRONT_DESK))
SPECS = tool_specs(TENANT)
CALLER = "+15551230000"
# 23:30 UTC on Monday 6 January 2025: evening in New York, the next morning in Tokyo.
INSTANT = datetime(2025, 1, 6, 23, 30, 15, tzinfo=UTC)


class FakeMemory:
    """A MemoryClient that keeps taken messages in a list. It can be slow or fail; the other
    methods are not for tools and fail loudly if a tool calls them."""

    def __init__(self, delay_s: float = 0.0, error: Exception | None = None) -> None:
        self.delay_s = delay_s
        self.error = error
        self.messages: list[tuple[str, NewMessage]] = []
        self.remembered: list[tuple[str, str | None, str, str, JsonInput]] = []
        self.knowledge: list[SearchHit] = []
        self.searches: list[tuple[str, str, int]] = []
        self.cancelled = False
        self.attempt = Attempt(False, "mismatch")
        self.verifications: list[dict[str, str]] = []

    async def ping(self) -> None:
        raise AssertionError("not a tool's business")

    async def take_message(self, token: str, message: NewMessage) -> str:
        try:
            await asyncio.sleep(self.delay_s)
        except asyncio.CancelledError:
            self.cancelled = True
            raise
        if self.error is not None:
            raise self.error
        self.messages.append((token, message))
        return f"msg-{len(self.messages)}"

    async def start_call(self, token: str, call: CallStart) -> None:
        raise AssertionError("not a tool's business")

    async def stream_connected(self, token: str, call_sid: str, stream_sid: str) -> None:
        raise AssertionError("not a tool's business")

    async def append_turns(self, token: str, call_sid: str, turns: Sequence[Turn]) -> None:
        raise AssertionError("not a tool's business")

    async def append_turn_batches(self, batches: Sequence[TurnBatch]) -> list[str | None]:
        raise AssertionError("not a tool's business")

    async def finish_call(self, token: str, call_sid: str, end: CallEnd) -> None:
        raise AssertionError("not a tool's business")

    async def load_turns(self, token: str, call_sid: str) -> list[Turn]:
        raise AssertionError("not a tool's business")

    async def remember(self, token: str, memory: NewMemory) -> None:
        self.remembered.append(
            (memory.caller_number, memory.call_sid, memory.memory_type, memory.key, memory.value)
        )

    async def caller_context(
        self, token: str, caller_number: str, *, agenda: str = "", k: int = 8
    ) -> CallerContext:
        raise AssertionError("not a tool's business")

    async def consolidate(
        self, token: str, caller_number: str, call_sid: str, turns: Sequence[Turn]
    ) -> int:
        raise AssertionError("not a tool's business")

    async def enqueue_post_call(self, token: str, call_sid: str, caller_number: str) -> None:
        raise AssertionError("not a tool's business")

    async def verify_caller(
        self, token: str, call_sid: str, caller_number: str, given: Mapping[str, str]
    ) -> Attempt:
        self.verifications.append(dict(given))
        return self.attempt

    async def verified_on_call(self, token: str, call_sid: str, caller_number: str) -> bool:
        return self.attempt.verified

    async def recording_on_call(self, token: str, call_sid: str) -> str | None:
        return None

    async def search_knowledge(self, token: str, query: str, k: int = 3) -> list[SearchHit]:
        if self.error is not None:
            raise self.error
        self.searches.append((token, query, k))
        return self.knowledge[:k]


def context(
    memory: FakeMemory | None = None, tenant: TenantConfig = TENANT, at: datetime = INSTANT
) -> ToolContext:
    client: MemoryClient = memory if memory is not None else FakeMemory()
    return ToolContext(
        tenant=tenant,
        call_sid="CA1",
        caller_number=CALLER,
        memory=client,
        memory_token="memory-token",
        clock=lambda: at,
    )


async def ran(name: str, raw: str, ctx: ToolContext | None = None) -> ToolRun:
    return await run_tool(SPECS.get(name), "call-1", name, raw, ctx or context())


async def run(name: str, raw: str, ctx: ToolContext | None = None) -> ToolResult:
    return (await ran(name, raw, ctx)).result


async def run_result(
    spec: ToolSpec | None, call_id: str, name: str, raw: str, ctx: ToolContext
) -> ToolResult:
    return (await run_tool(spec, call_id, name, raw, ctx)).result


# --- the built-in tools -------------------------------------------------------------------------


async def test_end_call_closes_with_the_goodbye() -> None:
    assert await run("end_call", '{"reason": "caller said bye"}') == ToolResult(
        "call-1",
        "end_call",
        '{"ok":true,"next":"Say a short goodbye; the call ends once it has been heard."}',
        close="hang_up",
        target="",
        say=call_lines.GOODBYE,
    )


async def test_transfer_call_targets_the_rule_number_with_the_handoff_line() -> None:
    assert await run("transfer_call", '{"target": "claims"}') == ToolResult(
        "call-1",
        "transfer_call",
        '{"ok":true,"transferring_to":"our claims team"}',
        close="transfer",
        target="+15550100",
        say=call_lines.handoff("our claims team"),
    )
    # A rule without a description is announced by its keyword.
    assert await run("transfer_call", '{"target": "front desk"}') == ToolResult(
        "call-1",
        "transfer_call",
        '{"ok":true,"transferring_to":"front desk"}',
        close="transfer",
        target="+15550111",
        say=call_lines.handoff("front desk"),
    )


async def test_transfer_to_a_rule_removed_mid_call_is_an_error_for_the_model() -> None:
    ctx = context(tenant=replace(TENANT, transfer_rules=(FRONT_DESK,)))
    assert await run("transfer_call", '{"target": "claims"}', ctx) == ToolResult(
        "call-1", "transfer_call", '{"ok":false,"error":"no transfer target \'claims\'"}'
    )


@pytest.mark.parametrize(
    ("time_zone", "at", "output"),
    [
        (
            "America/New_York",
            INSTANT,
            '{"time":"6:30 PM","date":"Monday, January 6, 2025","time_zone":"America/New_York"}',
        ),
        (
            "Asia/Tokyo",
            INSTANT,
            '{"time":"8:30 AM","date":"Tuesday, January 7, 2025","time_zone":"Asia/Tokyo"}',
        ),
        (
            # 04:05 UTC in July is five past midnight in New York (daylight time).
            "America/New_York",
            datetime(2025, 7, 4, 4, 5, tzinfo=UTC),
            '{"time":"12:05 AM","date":"Friday, July 4, 2025","time_zone":"America/New_York"}',
        ),
    ],
)
async def test_get_current_time_in_the_tenants_time_zone(
    time_zone: str, at: datetime, output: str
) -> None:
    ctx = context(tenant=replace(TENANT, time_zone=time_zone), at=at)
    assert await run("get_current_time", "{}", ctx) == ToolResult(
        "call-1", "get_current_time", output
    )


async def test_take_message_stores_it_with_the_caller_and_the_call() -> None:
    memory = FakeMemory()
    run_ = await ran(
        "take_message",
        '{"reason": "question about my renewal", "caller_name": "Dana Smith", '
        '"callback_number": "+1 555 010 0199", "preferred_time": "after 5 pm"}',
        context(memory),
    )
    assert run_ == ToolRun(
        ToolResult(
            "call-1",
            "take_message",
            '{"ok":true,"message_id":"msg-1","next":"Confirm it was recorded."}',
        ),
        "ok",
    )
    assert memory.messages == [
        (
            "memory-token",
            NewMessage(
                call_sid="CA1",
                caller_number="+15551230000",
                reason="question about my renewal",
                caller_name="Dana Smith",
                preferred_time="after 5 pm",
                callback_number="+1 555 010 0199",
            ),
        )
    ]


async def test_take_message_with_only_a_reason_leaves_the_rest_empty() -> None:
    memory = FakeMemory()
    await run("take_message", '{"reason": "call me back"}', context(memory))
    assert memory.messages == [
        ("memory-token", NewMessage("CA1", "+15551230000", "call me back", None, None, None))
    ]


# --- failures come back to the model, never as exceptions ---------------------------------------


async def test_unknown_or_disabled_tools_are_errors() -> None:
    send_fax = ToolSpec("send_fax", "Send a fax.", {"type": "object"})
    assert await run_tool(send_fax, "call-9", "send_fax", "{}", context()) == ToolRun(
        ToolResult("call-9", "send_fax", '{"ok":false,"error":"unknown tool \'send_fax\'"}'),
        "error",
    )
    # end_call exists, but this tenant's agent was not given it (no spec).
    assert await run_tool(None, "call-9", "end_call", "{}", context()) == ToolRun(
        ToolResult("call-9", "end_call", '{"ok":false,"error":"unknown tool \'end_call\'"}'),
        "error",
    )


@pytest.mark.parametrize(
    ("name", "raw", "error"),
    [
        ("take_message", "{not json", "invalid arguments: arguments are not valid JSON"),
        ("take_message", '{"reason": 5}', "invalid arguments: reason: 5 is not of type 'string'"),
        (
            "transfer_call",
            '{"target": "sales"}',
            "invalid arguments: target: 'sales' is not one of ['claims', 'front desk']",
        ),
        (
            "end_call",
            '{"reason": "bye", "force": true}',
            "invalid arguments: arguments: Additional properties are not allowed "
            "('force' was unexpected)",
        ),
    ],
)
async def test_invalid_arguments_are_errors_and_the_tool_does_not_run(
    name: str, raw: str, error: str
) -> None:
    memory = FakeMemory()
    run_ = await ran(name, raw, context(memory))
    assert run_.result == ToolResult("call-1", name, f'{{"ok":false,"error":"{error}"}}')
    assert run_.status == "error"
    assert memory.messages == []


async def test_a_slow_tool_times_out_and_is_cancelled() -> None:
    memory = FakeMemory(delay_s=5.0)
    spec = replace(SPECS["take_message"], timeout_s=0.05)
    began = time.monotonic()
    with capture_logs() as logs:
        run_ = await run_tool(spec, "call-1", "take_message", '{"reason": "x"}', context(memory))
    assert time.monotonic() - began < 1.0
    assert run_.status == "timeout"
    assert run_.result == ToolResult(
        "call-1", "take_message", '{"ok":false,"error":"the tool timed out; try again later"}'
    )
    assert memory.cancelled  # no orphan left sleeping
    assert memory.messages == []
    assert logs == [
        {
            "event": "tool_timed_out",
            "tool": "take_message",
            "timeout_s": 0.05,
            "log_level": "warning",
        }
    ]


async def test_a_failing_tool_is_an_error_and_logged() -> None:
    memory = FakeMemory(error=RuntimeError("pool closed"))
    with capture_logs() as logs:
        run_ = await ran("take_message", '{"reason": "x"}', context(memory))
    failed = ToolResult("call-1", "take_message", '{"ok":false,"error":"the tool failed"}')
    assert run_ == ToolRun(failed, "error")
    assert logs == [
        {
            "event": "tool_failed",
            "tool": "take_message",
            "error": "RuntimeError('pool closed')",
            "log_level": "error",
        }
    ]


async def test_a_failing_clock_is_an_error_too() -> None:
    def broken() -> datetime:
        raise OSError("no clock")

    ctx = replace(context(), clock=broken)
    assert await run("get_current_time", "{}", ctx) == ToolResult(
        "call-1", "get_current_time", '{"ok":false,"error":"the tool failed"}'
    )


# --- the result drives the call -----------------------------------------------------------------


async def test_end_call_result_through_the_state_machine_hangs_up_after_the_goodbye() -> None:
    result = await run("end_call", "{}")
    timeline: list[tuple[float, ev.CallEvent]] = [
        (0.0, tw.Start("MZ1", "CA1", "AC1", {"token": "tok"})),
        (1.0, result),
        (1.25, rt.ResponseCreated("r1")),
        (1.25, rt.AudioDelta("r1", "i1", b64(bytes(800)))),
        (1.5, rt.ResponseDone("r1", "completed")),
        (1.75, tw.Mark("m1")),
        (2.0, tw.Stop("CA1")),
    ]
    state = cs.new_call("CA1", "tok")
    log: list[tuple[float, ev.Command]] = []
    for now, event in timeline:
        state, commands = cs.step(state, event, now)
        log.extend((now, c) for c in commands if not isinstance(c, ev.SendMedia | ev.Observe))
    assert log == [
        (1.0, ev.SendToolOutput("call-1", result.output)),
        (1.0, ev.RecordTurn("tool", result.output, {"call_id": "call-1", "name": "end_call"})),
        (1.0, ev.CreateResponse(call_lines.GOODBYE)),
        (1.25, ev.SendMark("m1")),
        (1.75, ev.FinishAfterSpeech("hang_up", "")),
        (2.0, ev.EndCall("agent_hung_up")),
    ]


async def test_remember_stores_the_fact_under_its_stable_key() -> None:
    memory = FakeMemory()
    spec = tool_specs(TENANT)["remember"]
    result = await run_result(
        spec,
        "c9",
        "remember",
        '{"fact": "Daughter starts driving in May", "category": "person", "key": "Daughter"}',
        context(memory),
    )
    assert json.loads(result.output)["ok"] is True
    assert memory.remembered == [
        (CALLER, "CA1", "person", "daughter", {"text": "Daughter starts driving in May"})
    ]


# --- search_knowledge ---------------------------------------------------------------------------

KNOWING = tool_specs(replace(TENANT, tools=("search_knowledge",)))


def hit(title: str, body: str, score: float) -> SearchHit:
    return SearchHit(source="knowledge", ref=title, text=body, score=score, at=INSTANT)


async def test_search_knowledge_answers_with_titled_entries_to_cite() -> None:
    memory = FakeMemory()
    memory.knowledge = [
        hit("Office hours", "Mon-Fri 9-5; Sat 9-12.", 0.81234),
        hit("Roadside", "Call 1-800-555-0199 any time.", 0.5),
    ]
    result = await run_result(
        KNOWING["search_knowledge"],
        "c1",
        "search_knowledge",
        '{"query": "when are you open"}',
        context(memory),
    )
    assert memory.searches == [("memory-token", "when are you open", 3)]
    assert json.loads(result.output) == {
        "ok": True,
        "results": [
            {"title": "Office hours", "text": "Mon-Fri 9-5; Sat 9-12.", "score": 0.812},
            {"title": "Roadside", "text": "Call 1-800-555-0199 any time.", "score": 0.5},
        ],
        "next": "Answer from these only and name the title you used.",
    }


async def test_search_knowledge_with_nothing_on_file_or_failing_never_guesses() -> None:
    spec = KNOWING["search_knowledge"]
    empty = await run_result(spec, "c1", "search_knowledge", '{"query": "boat cover"}', context())
    assert json.loads(empty.output)["results"] == []
    broken = FakeMemory(error=ConnectionError("embedding provider down"))
    failed = await run_result(
        spec, "c1", "search_knowledge", '{"query": "boat cover"}', context(broken)
    )
    assert json.loads(failed.output) == {"ok": False, "error": "the tool failed"}
    short = await run_result(spec, "c1", "search_knowledge", '{"query": "x"}', context())
    assert json.loads(short.output)["ok"] is False
    assert "invalid arguments" in json.loads(short.output)["error"]


def test_search_knowledge_is_offered_only_when_switched_on() -> None:
    assert "search_knowledge" not in SPECS
    assert KNOWING["search_knowledge"].timeout_s <= 3.0
