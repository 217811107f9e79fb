"""How a call session finishes its call, step by step in the order engine.session_rules gives:
pending turns, the outcome on the call's row, the post-call work, the sockets, the call's
remaining tasks, late turns, and the end-of-call report to the pool; and how a Twilio stream
the state machine refuses is closed.

I/O: the memory pool (`MemoryClient`), the two sockets and the pool's `CallLifecycle`. Every
step is bounded and none raises: a call always reaches its report.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import assert_never

import structlog

from actors import call_effects
from actors.call_sockets import MediaSocket, ModelChannel
from actors.ports import CallLifecycle, CallSetup, MemoryClient
from actors.turn_writer import TurnWriter
from engine.call_events import EndCall
from engine.call_metrics import CallMetrics
from engine.session_rules import FinishStep, finish_steps
from engine.task_set import TaskSet
from memory.call_records import CallEnd

STREAM_CONNECT_TIMEOUT_S = 30.0  # how long a call waits for Twilio to connect its stream
CLOSE_TIMEOUT_S = 1.5
REPORT_TIMEOUT_S = 5.0
RECORDED_WAIT_S = 3.0


@dataclass(frozen=True, slots=True)
class CallEnding:
    """What finishing a call touches, as its call session holds it."""

    setup: CallSetup
    memory: MemoryClient
    lifecycle: CallLifecycle | None
    turns: TurnWriter
    model: ModelChannel
    metrics: CallMetrics
    tasks: TaskSet
    log: structlog.typing.FilteringBoundLogger
    take_stream: Callable[[], MediaSocket | None]  # the session lets go of its Twilio socket
    stream_seen: asyncio.Event = field(default_factory=asyncio.Event)  # set by the session
    recorded: asyncio.Event = field(default_factory=asyncio.Event)  # the outcome is in Postgres


async def refuse_stream(ending: CallEnding, code: int, reason: str, *, call_ended: bool) -> None:
    """Close the Twilio socket the state machine refused. When the call is over, only once its
    outcome is recorded: the `<Connect action>` Twilio then requests must find it."""
    ws = ending.take_stream()
    ending.log.warning("stream_refused", reason=reason)
    if call_ended:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(ending.recorded.wait(), RECORDED_WAIT_S)
    if ws is not None:
        await ws.close(code, reason)


async def finish(ending: CallEnding, end: EndCall, record: CallEnd) -> None:
    """Run every step of finishing the call, in order (engine.session_rules.finish_steps)."""
    for step in finish_steps(end.outcome, ending.metrics.stream_started_at is not None):
        await run_step(ending, step, end, record)


async def run_step(ending: CallEnding, step: FinishStep, end: EndCall, record: CallEnd) -> None:
    setup, memory, log = ending.setup, ending.memory, ending.log
    match step:
        case "write_turns":
            await call_effects.write_turns(ending.turns)
        case "record_outcome":
            await call_effects.finish_call(memory, setup, record, log)
            ending.recorded.set()
        case "enqueue_post_call":
            await call_effects.enqueue_post_call(memory, setup, log)
        case "await_stream":
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(ending.stream_seen.wait(), STREAM_CONNECT_TIMEOUT_S)
        case "close_sockets":
            ws = ending.take_stream()
            if ws is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(ws.close(1000, "call ended"), CLOSE_TIMEOUT_S)
            await ending.model.close()
            call_effects.log_call_ended(log, end, ending.metrics)
        case "cancel_tasks":
            ending.tasks.cancel()
        case "write_late_turns":
            if ending.turns.pending:  # written after the first write
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(ending.turns.flush(), CLOSE_TIMEOUT_S)
        case "report":
            if ending.lifecycle is not None:
                report = call_effects.report(setup, end.outcome, ending.metrics, ending.model)
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(ending.lifecycle.call_ended(report), REPORT_TIMEOUT_S)
        case _:
            assert_never(step)
