"""A simulated phone call against a running engine, and its report. I/O: HTTP, WebSockets, DB.

Used by `neurosphere demo` and `neurosphere call`: registers what the caller will say with the
offline realtime simulator (when the engine uses it), places the call with the simulated Twilio
caller, then reads the call and its transcript back from Postgres.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from engine.sim.caller_result import CallResult
from engine.sim.realtime_script import Reply, Script
from engine.sim.twilio_caller import CallScript, HangUp, Speak, Step, TwilioCaller, WaitForAgent
from memory import calls
from memory.call_records import CallRecord, Turn
from memory.db import create_pool

DEMO_LINES = (
    "Hi, I was in a small accident yesterday and I'd like to start a claim.",
    "Thanks, that's all I needed. Bye.",
)
DEMO_REPLIES = (
    "I'm sorry to hear that. I can help you start a claim right away. "
    "Was anyone hurt, and is the car drivable?",
    "You're welcome. Take care, and drive safely. Goodbye.",
)


@dataclass(frozen=True, slots=True)
class CallReportView:
    result: CallResult
    record: CallRecord | None
    turns: list[Turn]


def caller_steps(lines: tuple[str, ...]) -> tuple[Step, ...]:
    steps: list[Step] = [WaitForAgent(timeout=20)]
    for line in lines:
        steps += [Speak(line), WaitForAgent(timeout=20)]
    steps.append(HangUp())
    return tuple(steps)


async def register_lines(
    realtime_base_url: str, from_number: str, lines: tuple[str, ...], replies: tuple[str, ...]
) -> None:
    """Tell the offline simulator what this caller says and how the model answers."""
    from engine.sim.realtime import register_script

    script = Script(transcripts=lines, replies=tuple(Reply(text=r) for r in replies))
    await register_script(realtime_base_url, from_number, script)


async def place_and_read(
    *,
    webhook_base: str,
    public_base_url: str,
    auth_token: str,
    app_database_url: str,
    tenant_id: str,
    from_number: str,
    to_number: str,
    lines: tuple[str, ...],
) -> CallReportView:
    caller = TwilioCaller(
        webhook_base=webhook_base, public_base_url=public_base_url, auth_token=auth_token
    )
    script = CallScript(steps=caller_steps(lines), from_number=from_number, to_number=to_number)
    result = await caller.place_call(script, timeout=30 + 25 * len(lines))
    pool = await create_pool(app_database_url, min_size=1, max_size=2)
    try:
        record = None
        for _ in range(40):  # the row is finalised within moments of the hang-up
            record = await calls.get_call(pool, tenant_id, result.call_sid)
            if record is not None and record.outcome is not None:
                break
            await asyncio.sleep(0.1)
        turns = await calls.load_turns(pool, tenant_id, result.call_sid)
    finally:
        await pool.close()
    return CallReportView(result, record, turns)


def render(view: CallReportView) -> str:
    """The call as a person reads it: transcript with times, then timings."""
    result, record, turns = view.result, view.record, view.turns
    lines = [f"Call {result.call_sid}"]
    if result.refused_say:
        lines.append(f"  refused: {result.refused_say}")
    start = turns[0].at if turns else None
    lines.append("Transcript (from Postgres):")
    for turn in turns:
        offset = (turn.at - start).total_seconds() if start else 0.0
        extra = ""
        if "latency_ms" in turn.meta:
            extra += f"  [reply latency {turn.meta['latency_ms']} ms]"
        if "interrupted_at_ms" in turn.meta:
            extra += f"  [interrupted after {turn.meta['interrupted_at_ms']} ms]"
        lines.append(f"  +{offset:6.2f}s  {turn.role:>6}: {turn.text}{extra}")
    if not turns:
        lines.append("  (no turns recorded)")
    lines.append("Timings:")
    lines.append(f"  webhook answer:         {result.webhook_ms:8.1f} ms")
    greeting = result.first_audio_after_start_ms()
    if greeting is not None:
        lines.append(f"  stream start -> audio:  {greeting:8.1f} ms (as heard by the caller)")
    if record is not None and record.greeting_ms is not None:
        lines.append(f"  greeting (engine):      {record.greeting_ms:8.1f} ms")
    latencies = [t.meta["latency_ms"] for t in turns if "latency_ms" in t.meta]
    for i, latency in enumerate(latencies, start=1):
        lines.append(f"  turn {i} reply latency:  {float(str(latency)):8.1f} ms")
    lines.append(f"  agent audio heard:      {result.heard_ms:8d} ms")
    if record is not None:
        lines.append(f"  outcome:                {record.outcome} ({record.duration_ms} ms)")
    if result.violations:
        lines.append(f"  protocol violations:    {result.violations}")
    return "\n".join(lines)
