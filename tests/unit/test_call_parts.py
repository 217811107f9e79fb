"""A call's parts (actors/call_parts.py) and the commands off the audio path
(actors/call_commands.py), against the session's fakes: no Ray, no sockets."""

from __future__ import annotations

from datetime import UTC, datetime

import structlog

from actors import call_commands, call_parts, call_start
from actors.call_parts import CallParts
from actors.call_sockets import MediaSocket
from actors.ports import CallSetup
from engine import call_events as ev
from engine import realtime_codec as rt
from tests.unit.session_fakes import (
    CONFIG,
    TENANT,
    TOKEN,
    FakeControl,
    FakeLifecycle,
    FakeMemory,
    FakeModel,
    Log,
    settle,
)


class Listener:
    async def model_opened(self, reconnected: bool) -> list[str]:
        return []

    async def model_frame(self, frame: str | bytes, received_ns: int) -> None:
        return None

    async def model_gone(self, permanent: bool, reason: str) -> None:
        return None


class Parts:
    def __init__(self) -> None:
        self.log = Log()
        self.applied: list[ev.CallEvent] = []
        self.finished: list[ev.EndCall] = []
        setup = CallSetup("CA1", TENANT, "+15550100", "+15550199", TOKEN, "memory-token")
        self.parts: CallParts = call_parts.assemble(
            CONFIG,
            FakeMemory(self.log),
            FakeLifecycle(self.log),
            FakeControl(self.log),
            setup,
            structlog.get_logger("test"),
            Listener(),
            self.apply,
            self.take_stream,
            FakeModel,
        )
        assert isinstance(self.parts.model, FakeModel)
        self.model = self.parts.model

    async def apply(self, event: ev.CallEvent, received_ns: int = 0) -> None:
        self.applied.append(event)

    def take_stream(self) -> MediaSocket | None:
        return None

    async def finish(self, end: ev.EndCall) -> None:
        self.finished.append(end)

    async def run(self, command: call_commands.ControlCommand) -> None:
        await call_commands.execute(
            command, self.parts, call_ended=False, apply=self.apply, finish=self.finish
        )
        await settle()


async def test_commands_off_the_audio_path_reach_their_part() -> None:
    p = Parts()
    await p.model.open()
    await p.run(ev.RecordTurn("caller", "hello"))
    assert p.parts.turns.pending == 1
    await p.run(ev.MeterSpeech(400))
    assert p.parts.meter.armed
    await p.run(ev.Observe("barge_in", 1))
    assert p.parts.metrics.barge_ins == 1
    await p.run(ev.CreateResponse("say hi"))
    assert p.model.types()[-1] == "response.create"
    await p.run(ev.SetRecording(True))
    assert ("set_recording", True) in p.log
    await p.run(ev.EndCall("caller_hung_up"))
    assert [e.outcome for e in p.finished] == ["caller_hung_up"]
    await p.parts.tasks.close(1.0)


async def test_an_unknown_tool_is_answered_as_an_error_result_stepped_once() -> None:
    p = Parts()
    await p.parts.run_tool(rt.FunctionCall("c1", "no_such_tool", "{}"), 0, p.apply)
    assert [type(e).__name__ for e in p.applied] == ["ToolResult"]
    await p.parts.tasks.close(1.0)


async def test_start_writes_the_calls_row_in_the_background() -> None:
    p = Parts()
    _, state = call_start.first_state(p.parts.setup, datetime.now(UTC))
    p.parts.start(lambda: state, p.apply, lambda: None)
    await settle()
    assert ("start_call", "CA1") in p.log
    await p.parts.tasks.close(1.0)
