"""The agent's tools at work inside a call actor (I/O: the memory pool, the clock).

`run_tool` parses and validates the model's arguments against the tool's schema, runs the
implementation under the tool's timeout, and turns every outcome - success, bad arguments,
unknown tool, timeout, failure - into a `ToolResult` for the state machine, with a status for
the tool's metrics (ok, error or timeout). Nothing a model sends can raise out of here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

import structlog

from actors.ports import MemoryClient
from engine import agency_tools
from engine.call_events import CloseKind, ToolResult
from engine.config import AgencyTool, TenantConfig
from engine.tools import (
    REPORT_URGENT_CLAIM,
    ToolArgumentError,
    ToolSpec,
    ToolStatus,
    parse_arguments,
    tool_output,
)
from memory.call_records import NewMessage
from memory.caller_records import NewMemory
from prompts import call_lines

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class ToolContext:
    tenant: TenantConfig
    call_sid: str
    caller_number: str = field(repr=False)
    memory: MemoryClient = field(repr=False)
    memory_token: str = field(repr=False)
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class ToolRun:
    result: ToolResult  # for the state machine
    status: ToolStatus


@dataclass(frozen=True, slots=True)
class Outcome:
    output: dict[str, Any]
    close: CloseKind | None = None
    target: str = ""
    say: str = ""
    verified: bool = False
    status: ToolStatus = "ok"  # it ran; an agency tool's failed lookup says error or timeout
    why: str = ""  # a transfer's reason in the model's words


_VERIFY_ANSWERS = {
    "verified": "The caller is verified. Their details on file are now in your instructions.",
    "mismatch": "Not verified: what the caller said does not match. Do not say which item.",
    "unreadable": "Not verified: an item could not be understood; ask them to repeat it.",
    "too_few": "Not verified: ask for every item you were told to ask for, then try again.",
    "no_identifiers": "This caller cannot be verified by phone: offer to take a message.",
    "call_limit": "Not verified, and no more tries on this call: offer to take a message.",
    "caller_locked": "Not verified: too many failed tries lately. Offer to take a message.",
}


async def _verify_caller(args: dict[str, Any], ctx: ToolContext) -> Outcome:
    given = {k: str(v) for k, v in args.items()}
    attempt = await ctx.memory.verify_caller(
        ctx.memory_token, ctx.call_sid, ctx.caller_number, given
    )
    return Outcome(
        {
            "verified": attempt.verified,
            "next": _VERIFY_ANSWERS.get(attempt.reason, "Not verified."),
        },
        verified=attempt.verified,
    )


async def _end_call(args: dict[str, Any], ctx: ToolContext) -> Outcome:
    return Outcome(
        {"ok": True, "next": "Say a short goodbye; the call ends once it has been heard."},
        close="hang_up",
        say=call_lines.GOODBYE,
    )


async def _transfer_call(args: dict[str, Any], ctx: ToolContext) -> Outcome:
    target = str(args["target"]).lower()
    rule = next((r for r in ctx.tenant.transfer_rules if r.keyword.lower() == target), None)
    if rule is None:  # the schema's enum makes this unreachable unless rules changed mid-call
        return Outcome({"ok": False, "error": f"no transfer target '{target}'"})
    description = rule.description or rule.keyword
    return Outcome(
        {"ok": True, "transferring_to": description},
        close="transfer",
        target=rule.number,
        say=call_lines.handoff(description),
        why=str(args.get("reason") or ""),
    )


async def _get_current_time(args: dict[str, Any], ctx: ToolContext) -> Outcome:
    now = ctx.clock().astimezone(ZoneInfo(ctx.tenant.time_zone))
    hour = now.strftime("%I").lstrip("0")
    return Outcome(
        {
            "time": f"{hour}:{now.strftime('%M %p')}",
            "date": f"{now.strftime('%A, %B')} {now.day}, {now.year}",
            "time_zone": ctx.tenant.time_zone,
        }
    )


async def _take_message(args: dict[str, Any], ctx: ToolContext) -> Outcome:
    message = NewMessage(
        call_sid=ctx.call_sid,
        caller_number=ctx.caller_number,
        reason=str(args["reason"]),
        caller_name=args.get("caller_name"),
        preferred_time=args.get("preferred_time"),
        callback_number=args.get("callback_number"),
        text_confirmation=args.get("text_confirmation") is True,
    )
    message_id = await ctx.memory.take_message(ctx.memory_token, message)
    return Outcome({"ok": True, "message_id": message_id, "next": "Confirm it was recorded."})


async def _report_urgent_claim(args: dict[str, Any], ctx: ToolContext) -> Outcome:
    """An urgent claim after hours (engine.urgent_claims): an urgent message, which texts the
    staff at once, then the person on call when the agency has one."""
    condition = str(args["condition"])
    message = NewMessage(
        call_sid=ctx.call_sid,
        caller_number=ctx.caller_number,
        reason=f"Urgent claim ({condition}): {args['details']}",
        caller_name=args.get("caller_name"),
        callback_number=args.get("callback_number"),
        urgent=condition,
    )
    message_id = await ctx.memory.take_message(ctx.memory_token, message)
    number = ctx.tenant.urgent.number
    if number is None:
        say = "Tell the caller the staff have been alerted and will call back as soon as they can."
        return Outcome({"ok": True, "message_id": message_id, "next": say})
    return Outcome(
        {"ok": True, "message_id": message_id, "transferring_to": "the person on call"},
        close="transfer",
        target=number,
        say=call_lines.handoff("the person on call"),
    )


async def _remember(args: dict[str, Any], ctx: ToolContext) -> Outcome:
    memory = NewMemory(
        ctx.caller_number,
        ctx.call_sid,
        str(args["category"]),
        str(args["key"]).strip().lower(),
        {"text": str(args["fact"])},
    )
    await ctx.memory.remember(ctx.memory_token, memory)
    return Outcome({"ok": True, "next": "Confirm briefly that you will remember it."})


async def _search_knowledge(args: dict[str, Any], ctx: ToolContext) -> Outcome:
    hits = await ctx.memory.search_knowledge(ctx.memory_token, str(args["query"]), 3)
    if not hits:
        return Outcome(
            {"ok": True, "results": [], "next": "Nothing on file: offer a follow-up instead."}
        )
    results = [{"title": h.ref, "text": h.text[:1000], "score": round(h.score, 3)} for h in hits]
    return Outcome(
        {
            "ok": True,
            "results": results,
            "next": "Answer from these only and name the title you used.",
        }
    )


async def _agency_tool(
    tool: AgencyTool, call_id: str, args: dict[str, Any], ctx: ToolContext
) -> Outcome:
    answer = await agency_tools.call(tool, ctx.call_sid, call_id, args)
    return Outcome(answer.output, status=answer.status)


IMPLEMENTATIONS: dict[str, Callable[[dict[str, Any], ToolContext], Awaitable[Outcome]]] = {
    "end_call": _end_call,
    "transfer_call": _transfer_call,
    "get_current_time": _get_current_time,
    "take_message": _take_message,
    "remember": _remember,
    "search_knowledge": _search_knowledge,
    "verify_caller": _verify_caller,
    REPORT_URGENT_CLAIM: _report_urgent_claim,
}


async def run_tool(
    spec: ToolSpec | None, call_id: str, name: str, raw_arguments: str, ctx: ToolContext
) -> ToolRun:
    def result(outcome: Outcome, status: ToolStatus = "error") -> ToolRun:
        return ToolRun(
            ToolResult(
                call_id,
                name,
                tool_output(outcome.output),
                outcome.close,
                outcome.target,
                outcome.say,
                outcome.verified,
                outcome.why,
            ),
            status,
        )

    implementation = IMPLEMENTATIONS.get(name)
    if spec is not None and spec.agency is not None:
        implementation = partial(_agency_tool, spec.agency, call_id)
    if spec is None or implementation is None:
        return result(Outcome({"ok": False, "error": f"unknown tool '{name}'"}))
    try:
        args = parse_arguments(spec, raw_arguments)
    except ToolArgumentError as exc:
        return result(Outcome({"ok": False, "error": f"invalid arguments: {exc}"}))
    try:
        outcome = await asyncio.wait_for(implementation(args, ctx), spec.timeout_s)
    except TimeoutError:
        log.warning("tool_timed_out", tool=name, timeout_s=spec.timeout_s)
        timed_out = Outcome({"ok": False, "error": "the tool timed out; try again later"})
        return result(timed_out, "timeout")
    except Exception as exc:
        log.error("tool_failed", tool=name, error=repr(exc))
        return result(Outcome({"ok": False, "error": "the tool failed"}))
    return result(outcome, outcome.status)
