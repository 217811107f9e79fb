"""The engine's own emergency guard-rail: a caller whose words say someone is hurt or in danger
is told, by the engine and not only by the model's judgement, to hang up and dial 911 first.
Scripted timelines through the state machine and through a call session."""

from __future__ import annotations

import json

import pytest

from engine import call_events as ev
from engine import call_state as cs
from engine import realtime_codec as rt
from engine.call_control import CallRules
from engine.emergency import is_emergency
from prompts import call_lines
from tests.unit.session_fakes import Call
from tests.unit.test_call_state import audio, live_at, run, start


@pytest.mark.parametrize(
    "text",
    [
        "There's been a crash, someone's hurt",
        "my husband is bleeding and I think he's unconscious",
        "Should I call 911?",
        "we need an ambulance",
        "the car is on fire and she's trapped",
        "he's not breathing",
        "hubo un choque, mi hijo está herido",
        "necesitamos una ambulancia",
    ],
)
def test_words_of_an_emergency_are_recognised(text: str) -> None:
    assert is_emergency(text)


@pytest.mark.parametrize(
    "text",
    [
        "I had an accident last month and want to check my claim",
        "nobody was hurt, I just need to file a claim",
        "What does my policy cover for fire damage?",
        "my policy number is 911 204 55",
        "I'd like a quote for a new car",
    ],
)
def test_an_ordinary_insurance_call_is_not_an_emergency(text: str) -> None:
    assert not is_emergency(text)


def _spoken(commands: list[ev.Command]) -> list[str | None]:
    return [c.instructions for c in commands if isinstance(c, ev.CreateResponse)]


def test_an_emergency_while_the_agent_talks_cuts_it_off_and_says_911_next() -> None:
    state, _ = run(
        [(0.0, rt.ResponseCreated("r1")), (0.0, audio(500)), (0.1, audio(500))], live_at()
    )
    state, log = run(
        [(0.2, rt.CallerTranscript("u1", "There's been a crash, someone's hurt"))], state
    )
    commands = [c for _, c in log]
    assert ev.ClearPlayback() in commands
    assert ev.CancelResponse("r1") in commands
    assert ev.RecordTurn("system", "emergency: told to hang up and dial 911", {}) in commands
    assert ev.Observe("emergency", 1) in commands
    state, log = run([(0.3, rt.ResponseDone("r1", "cancelled"))], state)
    assert _spoken([c for _, c in log]) == [call_lines.EMERGENCY]


def test_an_emergency_while_the_line_is_quiet_is_answered_at_once_and_only_once() -> None:
    state, log = run([(1.0, rt.CallerTranscript("u1", "we need an ambulance"))], live_at())
    assert _spoken([c for _, c in log]) == [call_lines.EMERGENCY]
    state, _ = run(
        [(1.1, rt.ResponseCreated("r2")), (2.0, rt.ResponseDone("r2", "completed"))], state
    )
    state, log = run([(3.0, rt.CallerTranscript("u2", "she is still bleeding"))], state)
    assert call_lines.EMERGENCY not in _spoken([c for _, c in log])
    assert state.emergency


def test_the_emergency_line_is_said_in_spanish_to_a_spanish_caller() -> None:
    state = cs.new_call("CA1", "media-token-0123456789", CallRules(spanish=True))
    state, _ = run([(0.0, start())], state)
    state, log = run([(1.0, rt.CallerTranscript("u1", "necesitamos una ambulancia ahora"))], state)
    assert _spoken([c for _, c in log]) == [call_lines.lines("es").emergency]


async def test_a_scripted_call_hears_the_engine_say_911_whatever_the_model_does() -> None:
    call = Call()
    await call.live()
    await call.model.frame("response.created", response={"id": "r1"})
    await call.model.frame(
        "conversation.item.input_audio_transcription.completed",
        item_id="u1",
        transcript="There's been a crash on the highway, someone's hurt",
    )
    await call.model.frame("response.done", response={"id": "r1", "status": "cancelled"})
    creates = [f for f in call.model.sent if f["type"] == "response.create"]
    assert "9 1 1" in json.dumps(creates[-1])
    assert any(f["type"] == "response.cancel" for f in call.model.sent)
    await call.session.shutdown()
    await call.end()
    assert any(t.role == "system" and "911" in t.text for t in call.memory.turns)
