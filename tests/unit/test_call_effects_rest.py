"""The state machine's commands for Twilio's REST API (actors.call_effects.rest_command): a
hang-up or transfer once the closing words were heard, its outcome applied back; the recording
started or stopped; a failure becomes the call's end, never an exception."""

from __future__ import annotations

import structlog

from actors import call_effects
from actors.ports import CallSetup
from engine import call_events as ev
from tests.unit.session_fakes import TENANT, FakeControl, Log

SETUP = CallSetup("CA1", TENANT, "+15550100", "+15550199", "media-token", "memory-token")


async def run(
    command: ev.FinishAfterSpeech | ev.SetRecording, control: FakeControl | None
) -> list[ev.CallEvent]:
    applied: list[ev.CallEvent] = []

    async def apply(event: ev.CallEvent) -> None:
        applied.append(event)

    await call_effects.rest_command(control, SETUP, command, apply, structlog.get_logger())
    return applied


async def test_the_recording_is_started_and_stopped_through_twilio() -> None:
    log = Log()
    assert await run(ev.SetRecording(on=True), FakeControl(log)) == []
    assert await run(ev.SetRecording(on=False), FakeControl(log)) == []
    assert log == [("set_recording", True), ("set_recording", False)]
    assert await run(ev.SetRecording(on=True), None) == []  # no control: nothing to start


async def test_a_failed_hang_up_ends_the_call_from_our_side() -> None:
    log = Log()
    [failed] = await run(ev.FinishAfterSpeech("hang_up", ""), FakeControl(log, fail=True))
    assert isinstance(failed, ev.FinishFailed)
    assert "Twilio is down" in failed.detail
    assert log == [("hang_up", "CA1")]
