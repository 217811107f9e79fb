"""The call session's side effects beyond its two sockets: the call's row in the memory pool
(created with retries, the stream counted on it, the outcome and the post-call work), the
caller's context before the greeting, consolidation of a long history, the hang-up or transfer
through Twilio's REST API, and the end-of-call report. I/O through `MemoryClient` and
`CallControl`; each await is bounded, and a failure is logged, never raised into the call.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import assert_never

import structlog

from actors.call_sockets import ModelChannel
from actors.ports import (
    CONTEXT_AGENDA,
    CallControl,
    CallReport,
    CallSetup,
    MemoryClient,
    ToolLatency,
)
from actors.turn_writer import TurnWriter
from engine import twilio_codec as tw
from engine.call_events import (
    CallEvent,
    EndCall,
    FinishAfterSpeech,
    FinishFailed,
    FinishSettled,
    SetRecording,
)
from engine.call_metrics import CallMetrics
from engine.call_state import CallState
from engine.recording_consent import Recording, resumed_recording, stored_recording
from engine.session_prompt import EMPTY_CONTEXT
from engine.warm_transfer import WarmRequest, warm_rule
from engine.warm_transfer import summary as warm_summary
from memory.call_records import CallEnd, CallStart, Turn
from prompts.context import CallerContext

CONTEXT_TIMEOUT_S = 1.0
ROW_WAIT_S = 20.0  # as long as the call row's write is retried
WRITE_TIMEOUT_S = 3.0
ROW_ATTEMPTS = 5
FINISH_STEP_TIMEOUT_S = 1.5
SETTLE_AFTER_REST_S = 5.0
CONTROL_TIMEOUT_S = 15.0


Log = structlog.typing.FilteringBoundLogger


async def record_start(
    memory: MemoryClient, setup: CallSetup, turns: TurnWriter, log_: Log, first: CallState
) -> None:
    """Create the call's row (retried with backoff), with how its recording begins (`first`:
    the call's first state); turns are written once it exists."""
    recording = stored_recording(first.recording)
    call = CallStart(
        setup.call_sid, setup.from_number, setup.to_number, setup.webhook_ms, recording
    )
    for attempt in range(ROW_ATTEMPTS):
        try:
            await asyncio.wait_for(memory.start_call(setup.memory_token, call), WRITE_TIMEOUT_S)
            turns.mark_ready()
            return
        except Exception as exc:
            log_.warning("call_row_failed", attempt=attempt, error=repr(exc))
            await asyncio.sleep(0.2 * 2**attempt)


async def stream_connected(
    memory: MemoryClient, setup: CallSetup, turns: TurnWriter, start: tw.Start, log_: Log
) -> None:
    """Count the stream on the call's row: a stream that starts while the row is still being
    written (a fast caller, a busy database) waits for it."""
    with contextlib.suppress(Exception):
        await asyncio.wait_for(turns.row_written(), ROW_WAIT_S)
        await asyncio.wait_for(
            memory.stream_connected(setup.memory_token, setup.call_sid, start.stream_sid),
            WRITE_TIMEOUT_S,
        )
    log_.info("stream_started", stream_sid=start.stream_sid)


async def caller_context(memory: MemoryClient, setup: CallSetup, log_: Log) -> CallerContext:
    """What we know about this caller (never an earlier call's turns), fetched before the
    greeting; a slow or failed lookup gives an empty context, not a silent line."""
    try:
        return await asyncio.wait_for(
            memory.caller_context(setup.memory_token, setup.from_number, agenda=CONTEXT_AGENDA),
            CONTEXT_TIMEOUT_S,
        )
    except Exception as exc:
        log_.warning("caller_context_failed", error=repr(exc))
        return EMPTY_CONTEXT


async def verified_before(memory: MemoryClient, setup: CallSetup, log_: Log) -> bool:
    """Whether this call's caller verified on an earlier actor (a resume after a lost node or
    stream): the engine's own record of the attempt, never the replayed conversation. A failed
    lookup counts as not verified, so the caller is asked again rather than trusted."""
    try:
        return await asyncio.wait_for(
            memory.verified_on_call(setup.memory_token, setup.call_sid, setup.from_number),
            CONTEXT_TIMEOUT_S,
        )
    except Exception as exc:
        log_.warning("verification_lookup_failed", error=repr(exc))
        return False


async def recording_before(memory: MemoryClient, setup: CallSetup, log_: Log) -> Recording:
    """How a resumed call's recording stands, from the call's record. A failed lookup starts
    nothing (the careful side for consent): a recording already running goes on at Twilio."""
    try:
        stored = await asyncio.wait_for(
            memory.recording_on_call(setup.memory_token, setup.call_sid), CONTEXT_TIMEOUT_S
        )
    except Exception as exc:
        log_.warning("recording_lookup_failed", error=repr(exc))
        return "none"
    return resumed_recording(stored)


async def consolidate(
    memory: MemoryClient,
    setup: CallSetup,
    turns: list[Turn],
    log_: Log,
) -> None:
    """Hand the oldest turns of a long call to memory extraction."""
    try:
        stored = await memory.consolidate(
            setup.memory_token, setup.from_number, setup.call_sid, turns
        )
        log_.info("history_consolidated", turns=len(turns), stored=stored)
    except Exception as exc:
        log_.warning("history_consolidation_failed", error=repr(exc))


async def act_on_call(
    control: CallControl | None, setup: CallSetup, command: FinishAfterSpeech, log_: Log
) -> FinishFailed | FinishSettled:
    """The closing words were heard: hang up or transfer through Twilio. A failure ends the
    call from our side (the `<Connect action>` then hangs up or dials instead); a success ends
    it some seconds later if Twilio has not."""
    tenant_id = setup.tenant.tenant_id
    try:
        if control is None:
            raise RuntimeError("no call control configured")
        warm = warm_rule(setup.tenant.transfer_rules, command.target)
        if command.kind == "transfer" and warm is not None:
            request = WarmRequest(
                command.target,
                setup.to_number,
                warm_summary(warm, setup.from_number, why=command.why),
            )
            await control.warm_transfer(tenant_id, setup.call_sid, request)
        elif command.kind == "transfer":
            await control.transfer(tenant_id, setup.call_sid, command.target)
        else:
            await control.hang_up(tenant_id, setup.call_sid)
    except Exception as exc:
        log_.warning("call_control_failed", kind=command.kind, error=repr(exc))
        return FinishFailed(f"{command.kind} via REST failed: {exc}")
    await asyncio.sleep(SETTLE_AFTER_REST_S)
    return FinishSettled()


async def set_recording(control: CallControl | None, setup: CallSetup, on: bool, log_: Log) -> None:
    """Start or stop the call's recording through Twilio (the tenant actor holds the account);
    a failure is logged: a recording that did not start is not made, one that did not stop is
    named in the log for the agency."""
    if control is None:
        return
    try:
        await asyncio.wait_for(
            control.set_recording(setup.tenant.tenant_id, setup.call_sid, on), CONTROL_TIMEOUT_S
        )
    except Exception as exc:
        log_.error("call_recording_failed", on=on, error=repr(exc))


async def rest_command(
    control: CallControl | None,
    setup: CallSetup,
    command: FinishAfterSpeech | SetRecording,
    apply: Callable[[CallEvent], Awaitable[None]],
    log_: Log,
) -> None:
    """Carry out a state machine's command for Twilio's REST API: hang up or transfer once the
    closing words were heard (the outcome is applied back), or start or stop the recording."""
    match command:
        case FinishAfterSpeech():
            await apply(await act_on_call(control, setup, command, log_))
        case SetRecording(on):
            await set_recording(control, setup, on, log_)
        case _:
            assert_never(command)


def call_end(
    end: EndCall, metrics: CallMetrics, now: float, state: CallState | None = None
) -> CallEnd:
    """The outcome for the call's row; `state` (the call's last) gives its language and what
    became of its recording (engine.recording_consent)."""
    return CallEnd(
        outcome=end.outcome,
        detail=end.detail[:500],
        duration_ms=metrics.duration_ms(now),
        greeting_ms=metrics.greeting_ms,
        transferred_to=end.transferred_to,
        language=state.language if state is not None else None,
        recording=stored_recording(state.recording) if state is not None else None,
        emergency=state.emergency if state is not None else False,
        guardrails=state.guardrails if state is not None else (),
    )


async def write_turns(turns: TurnWriter) -> None:
    """What is pending, once the call's row exists (each wait bounded)."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(turns.row_written(), FINISH_STEP_TIMEOUT_S)
    with contextlib.suppress(Exception):
        await asyncio.wait_for(turns.flush(), FINISH_STEP_TIMEOUT_S)


async def finish_call(memory: MemoryClient, setup: CallSetup, end: CallEnd, log_: Log) -> None:
    try:
        await asyncio.wait_for(
            memory.finish_call(setup.memory_token, setup.call_sid, end), FINISH_STEP_TIMEOUT_S
        )
    except Exception as exc:
        log_.error("call_finish_failed", error=repr(exc))


async def enqueue_post_call(memory: MemoryClient, setup: CallSetup, log_: Log) -> None:
    """Summary, personality, profile and memories: durable, done by the memory pool."""
    try:
        await asyncio.wait_for(
            memory.enqueue_post_call(setup.memory_token, setup.call_sid, setup.from_number),
            FINISH_STEP_TIMEOUT_S,
        )
    except Exception as exc:
        log_.error("post_call_enqueue_failed", error=repr(exc))


def log_call_ended(log_: Log, end: EndCall, metrics: CallMetrics) -> None:
    log_.info(
        "call_ended",
        outcome=end.outcome,
        detail=end.detail,
        greeting_ms=metrics.greeting_ms,
        timeline_ms=metrics.timeline,
        frames_in=metrics.frames_in,
        frames_out=metrics.frames_out,
        protocol_errors=metrics.protocol_errors,
        turn_model_ms=metrics.turn_model_ms,
        turn_sent_ms=metrics.turn_ms,
        turn_heard_ms=metrics.turn_heard_ms,
        barge_ins=metrics.barge_ins,
        backchannels_kept_talking=metrics.backchannels_kept_talking,
    )


def report(setup: CallSetup, outcome: str, metrics: CallMetrics, model: ModelChannel) -> CallReport:
    """The end-of-call report: outcome and measurements."""
    return CallReport(
        call_sid=setup.call_sid,
        tenant_id=setup.tenant.tenant_id,
        outcome=outcome,
        greeting_ms=metrics.greeting_ms,
        turn_ms=tuple(metrics.turn_ms),
        turn_model_ms=tuple(metrics.turn_model_ms),
        turn_heard_ms=tuple(metrics.turn_heard_ms),
        barge_ins=metrics.barge_ins,
        model_errors=metrics.model_errors,
        frames_in=metrics.frames_in,
        frames_out=metrics.frames_out,
        dropped_frames=metrics.dropped + model.dropped,
        inbound_latency_us=tuple(metrics.inbound_latency_us.counts),
        outbound_latency_us=tuple(metrics.outbound_latency_us.counts),
        inbound_latency_sum_us=metrics.inbound_latency_us.sum,
        outbound_latency_sum_us=metrics.outbound_latency_us.sum,
        model_reconnects=model.reconnects,
        model_gap_ms=model.last_gap_ms,
        tool_ms=tuple(
            ToolLatency(tool, status, tuple(h.counts), h.sum)
            for (tool, status), h in metrics.tool_ms.items()
        ),
        fillers=tuple(metrics.fillers.items()),
        emergencies=metrics.emergencies,
        guardrails=tuple(metrics.guardrails.items()),
    )
