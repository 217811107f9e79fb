"""Finishing a call (actors.call_finish) against the session's fakes, without a session: every
step runs in order even when the memory pool fails, a call that ended before its stream lets
the stream connect first, and a refused stream of an ended call closes once the outcome is
recorded."""

from __future__ import annotations

import asyncio
import time

import structlog

from actors import call_effects
from actors.call_finish import CallEnding, finish, refuse_stream
from actors.call_sockets import MediaSocket
from actors.ports import CallSetup
from actors.turn_writer import TurnWriter
from engine.call_events import EndCall
from engine.call_metrics import CallMetrics
from engine.task_set import TaskSet
from memory.call_records import CallEnd
from tests.unit.session_fakes import (
    TENANT,
    TOKEN,
    FakeLifecycle,
    FakeMemory,
    FakeModel,
    FakeTwilio,
    Log,
    settle,
)

SETUP = CallSetup("CA1", TENANT, "+15550100", "+15550199", TOKEN, "memory-token")


class DownMemory(FakeMemory):
    """A memory pool whose writes of the call's outcome and post-call job fail."""

    async def finish_call(self, token: str, call_sid: str, end: CallEnd) -> None:
        self.log.append(("finish_call_failed", end.outcome))
        raise ConnectionError("database went away")

    async def enqueue_post_call(self, token: str, call_sid: str, caller_number: str) -> None:
        raise ConnectionError("database went away")


class Ending:
    def __init__(self, memory: FakeMemory | None = None, *, streamed: bool = True) -> None:
        self.log = Log()
        self.memory = memory or FakeMemory(self.log)
        self.memory.log = self.log
        self.twilio: FakeTwilio | None = FakeTwilio(self.log)
        self.model = FakeModel(None, None)  # type: ignore[arg-type]
        self.lifecycle = FakeLifecycle(self.log)
        self.turns = TurnWriter(self.memory, "memory-token", "CA1")
        self.turns.mark_ready()
        self.metrics = CallMetrics(prepared_at=time.monotonic())
        if streamed:
            self.metrics.stream_started_at = time.monotonic()
        self.tasks = TaskSet("test", structlog.get_logger())
        self.ending = CallEnding(
            SETUP,
            self.memory,
            self.lifecycle,
            self.turns,
            self.model,
            self.metrics,
            self.tasks,
            structlog.get_logger(),
            self.take,
        )

    def take(self) -> MediaSocket | None:
        ws, self.twilio = self.twilio, None
        return ws

    async def finish(self, outcome: str) -> None:
        end = EndCall(outcome)
        record = call_effects.call_end(end, self.metrics, time.monotonic())
        await finish(self.ending, end, record)


async def test_every_step_runs_in_order_and_the_report_goes_out_when_the_pool_is_down() -> None:
    e = Ending(DownMemory(Log()))
    e.turns.add("caller", "hello")
    sleeper = e.tasks.spawn(asyncio.sleep(60))
    await e.finish("caller_hung_up")
    assert e.log.names() == ["append_turns", "finish_call_failed", "twilio_closed", "report"]
    assert e.ending.recorded.is_set()  # tried: the <Connect action> does not wait in vain
    assert e.model.closed
    assert e.twilio is None
    await settle()
    assert sleeper.cancelled()
    assert e.lifecycle.reports[0].outcome == "caller_hung_up"


async def test_a_call_that_ended_before_its_stream_lets_the_stream_connect_then_closes_it() -> None:
    e = Ending(streamed=False)
    finishing = asyncio.get_running_loop().create_task(e.finish("model_failed"))
    await settle(0.1)
    assert "finish_call" in e.log.names()
    assert "twilio_closed" not in e.log.names()  # waits for Twilio's stream
    e.ending.stream_seen.set()
    await asyncio.wait_for(finishing, 2)
    names = e.log.names()
    assert names.index("finish_call") < names.index("twilio_closed") < names.index("report")


async def test_a_call_ended_by_a_stream_that_never_came_does_not_wait_for_it() -> None:
    e = Ending(streamed=False)
    await asyncio.wait_for(e.finish("stream_never_connected"), 2)
    assert e.log.names()[-1] == "report"


async def test_a_refused_stream_of_an_ended_call_closes_once_the_outcome_is_recorded() -> None:
    e = Ending()
    twilio = e.twilio
    assert twilio is not None
    refusing = asyncio.get_running_loop().create_task(
        refuse_stream(e.ending, 1000, "call already ended", call_ended=True)
    )
    await settle(0.1)
    assert twilio.closed is None
    e.ending.recorded.set()
    await asyncio.wait_for(refusing, 2)
    assert twilio.closed == (1000, "call already ended")

    live = Ending()
    twilio = live.twilio
    assert twilio is not None
    await asyncio.wait_for(
        refuse_stream(live.ending, 1008, "invalid stream token", call_ended=False), 1
    )
    assert twilio.closed == (1008, "invalid stream token")
