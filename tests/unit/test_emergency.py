"""The engine's own emergency guard-rail: a caller whose words say someone is hurt or in danger
is told, by the engine and not only by the model's judgement, to hang up and dial 911 first.
Scripted timelines through the state machine and through a call session."""

from __future__ import annotations

import json

import pytest

from engine import call_events as ev
from engine import call_state as cs
from engine import realtime_codec as rt
from engine import twilio_codec as tw
from engine.call_control import CallRules
from engine.config import TransferRule
from engine.emergency import emergency_rule, is_emergency
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


EMERGENCY_LINE = TransferRule("emergency", "+15550009111", "our emergency claims line")
CLAIMS = TransferRule("claims", "+15550001234", "the claims team")


def _live_with(*rules: TransferRule) -> cs.CallState:
    state = cs.new_call("CA1", "media-token-0123456789", CallRules(transfers=rules))
    state, _ = run([(0.0, start())], state)
    return state


def test_the_emergency_line_is_the_transfer_target_named_emergency() -> None:
    assert emergency_rule((CLAIMS, EMERGENCY_LINE)) == EMERGENCY_LINE
    assert emergency_rule((CLAIMS, TransferRule(" Emergency ", "+15550009112"))) is not None
    assert emergency_rule((CLAIMS,)) is None
    assert emergency_rule(()) is None


def test_an_emergency_transfers_to_the_emergency_line_once_911_was_heard() -> None:
    state = _live_with(CLAIMS, EMERGENCY_LINE)
    state, log = run(
        [(1.0, rt.CallerTranscript("u1", "There's been a crash, someone's hurt"))], state
    )
    assert _spoken([c for _, c in log]) == [call_lines.EMERGENCY_TRANSFER]
    assert not any(isinstance(c, ev.FinishAfterSpeech) for _, c in log)  # not before it is heard
    state, log = run(
        [
            (1.1, rt.ResponseCreated("r2")),
            (1.2, audio(300, "r2", "i2")),
            (1.3, audio(300, "r2", "i2")),
        ],
        state,
    )
    state, log = run([(2.0, rt.ResponseDone("r2", "completed"))], state)
    assert not any(isinstance(c, ev.FinishAfterSpeech) for _, c in log)  # still playing
    marks = [m.name for m in state.pending]
    state, log = run([(2.5, tw.Mark(name)) for name in marks], state)
    finish = [c for _, c in log if isinstance(c, ev.FinishAfterSpeech)]
    assert finish == [ev.FinishAfterSpeech("transfer", EMERGENCY_LINE.number)]
    assert state.transferred_to == EMERGENCY_LINE.number
    state, log = run([(3.0, tw.Stop("CA1"))], state)
    assert [c for _, c in log if isinstance(c, ev.EndCall)] == [
        ev.EndCall("transferred", "", EMERGENCY_LINE.number)
    ]


def test_an_emergency_takes_over_a_transfer_not_yet_made() -> None:
    state = _live_with(CLAIMS, EMERGENCY_LINE)
    state, _ = run(
        [
            (
                0.5,
                ev.CloseAfterSpeech(
                    "transfer", call_lines.handoff("the claims team"), CLAIMS.number
                ),
            )
        ],
        state,
    )
    state, _ = run([(0.6, rt.ResponseCreated("r1")), (0.7, audio(300))], state)
    state, log = run([(0.8, rt.CallerTranscript("u1", "wait, we need an ambulance"))], state)
    assert ev.CancelResponse("r1") in [c for _, c in log]
    assert state.closing is not None
    assert state.closing.target == EMERGENCY_LINE.number
    state, log = run([(0.9, rt.ResponseDone("r1", "cancelled"))], state)
    assert _spoken([c for _, c in log]) == [call_lines.EMERGENCY_TRANSFER]


def test_without_an_emergency_line_the_caller_is_only_told_to_dial_911() -> None:
    state = _live_with(CLAIMS)
    state, log = run([(1.0, rt.CallerTranscript("u1", "my wife is bleeding"))], state)
    assert _spoken([c for _, c in log]) == [call_lines.EMERGENCY]
    assert state.closing is None
    state, log = run(
        [(1.1, rt.ResponseCreated("r2")), (2.0, rt.ResponseDone("r2", "completed"))], state
    )
    state, log = run([(40.0, ev.Tick())], state)
    assert not any(isinstance(c, ev.FinishAfterSpeech) for _, c in log)


def test_the_emergency_line_is_said_in_spanish_to_a_spanish_caller() -> None:
    state = cs.new_call("CA1", "media-token-0123456789", CallRules(spanish=True))
    state, _ = run([(0.0, start())], state)
    state, log = run([(1.0, rt.CallerTranscript("u1", "necesitamos una ambulancia ahora"))], state)
    assert _spoken([c for _, c in log]) == [call_lines.lines("es").emergency]
    assert call_lines.localize(call_lines.EMERGENCY_TRANSFER, "es") == (
        call_lines.lines("es").emergency_transfer
    )


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
