"""The engine cuts an answer that quotes, advises on coverage or binds (engine.advice_steps):
scripted timelines through the state machine, and a call session fed the model's frames."""

from __future__ import annotations

import json

from engine import call_events as ev
from engine import call_state as cs
from engine import realtime_codec as rt
from engine import twilio_codec as tw
from engine.call_control import CallRules
from engine.config import TransferRule
from prompts import call_lines
from tests.unit.session_fakes import Call
from tests.unit.test_call_state import audio, live_at, run, start

CLAIMS = TransferRule("claims", "+15550001234", "the claims team")


def _spoken(log: list[tuple[float, ev.Command]]) -> list[str | None]:
    return [c.instructions for _, c in log if isinstance(c, ev.CreateResponse)]


def _words(text: str, response_id: str = "r1", item_id: str = "i1") -> rt.AgentWords:
    return rt.AgentWords(response_id, item_id, text)


def _talking(rules: CallRules | None = None) -> cs.CallState:
    """The agent answering: 1 s of audio sent, 0.25 s of it heard."""
    state = cs.new_call("CA1", "media-token-0123456789", rules)
    state, _ = run([(0.0, start()), (0.0, rt.ResponseCreated("r1"))], state)
    state, _ = run([(0.0, audio(500)), (0.0, audio(500))], state)
    return state


def test_a_quote_is_cut_at_what_was_heard_and_the_fixed_line_said_next() -> None:
    state = _talking(CallRules(transfers=(CLAIMS,)))
    state, log = run(
        [(0.25, _words("Sure, adding him is easy. ")), (0.25, _words("Your premium will be $212"))],
        state,
    )
    commands = [c for _, c in log]
    assert ev.ClearPlayback() in commands
    assert ev.CancelResponse("r1") in commands
    assert ev.Truncate("i1", 250) in commands  # what the caller heard of it
    assert ev.Observe("guardrail", 1, "quote") in commands
    assert not any(isinstance(c, ev.Observe) and c.metric == "barge_in" for c in commands)
    [turn] = [c for c in commands if isinstance(c, ev.RecordTurn)]
    assert turn.role == "system"
    assert turn.meta["guardrail"] == "quote"
    assert state.guardrails == ("quote",)
    assert _spoken(log) == []  # the cancelled answer is still running
    state, log = run([(0.3, _words(" a month.")), (0.3, audio(500))], state)
    assert log == []  # the rest of the cut answer is neither checked nor played
    state, log = run([(0.35, rt.ResponseDone("r1", "cancelled"))], state)
    assert _spoken(log) == [call_lines.ADVICE_TRANSFER]


def test_with_nobody_to_put_them_through_to_the_line_offers_a_message() -> None:
    state = _talking()
    state, log = run([(0.2, _words("Okay, I've bound that policy for you."))], state)
    state, log = run([(0.3, rt.ResponseDone("r1", "cancelled"))], state)
    assert _spoken(log) == [call_lines.ADVICE_MESSAGE]
    assert state.guardrails == ("binding",)


def test_a_well_behaved_answer_passes_untouched() -> None:
    state = _talking(CallRules(transfers=(CLAIMS,)))
    answer = (
        "I can't tell you whether you're covered, a licensed agent can. Shall I put you through?"
    )
    timeline = [(0.1 + i / 100, _words(answer[i : i + 4])) for i in range(0, len(answer), 4)]
    state, log = run(timeline, state)
    assert log == []
    assert state.guardrails == ()
    assert state.agent_words[0] == "i1"


def test_a_phrase_split_across_deltas_is_heard() -> None:
    state = _talking()
    state, log = run([(0.1, _words("Good news, you")), (0.1, _words("'re cov"))], state)
    assert log == []
    state, log = run([(0.2, _words("ered."))], state)
    assert ev.Observe("guardrail", 1, "coverage") in [c for _, c in log]


def test_a_new_answer_starts_from_nothing() -> None:
    state = _talking()
    state, _ = run([(0.1, _words("I can't tell you whether"))], state)
    state, _ = run([(0.2, rt.ResponseDone("r1", "completed"))], state)
    state, log = run(
        [(0.3, rt.ResponseCreated("r2")), (0.3, _words(" you're covered.", "r2", "i2"))], state
    )
    assert ev.Observe("guardrail", 1, "coverage") in [c for _, c in log]


def test_text_for_an_outside_voice_is_checked_too() -> None:
    state = _talking()
    state, log = run(
        [(0.1, rt.TextDelta("r1", "i1", "That'll cost you about $40 a month."))], state
    )
    assert ev.CancelResponse("r1") in [c for _, c in log]


def test_the_fixed_line_is_said_in_spanish_to_a_spanish_caller() -> None:
    state = cs.new_call("CA1", "media-token-0123456789", CallRules(spanish=True))
    state, _ = run(
        [(0.0, start()), (0.1, rt.CallerTranscript("u1", "hola, tengo una pregunta"))], state
    )
    state, _ = run([(0.2, rt.ResponseCreated("r1")), (0.2, audio(300))], state)
    state, log = run([(0.3, _words("Su prima será de cien dólares."))], state)
    state, log = run([(0.4, rt.ResponseDone("r1", "cancelled"))], state)
    assert _spoken(log) == [call_lines.lines("es").advice_message]


def test_an_answer_still_waiting_for_the_stream_is_cut_too() -> None:
    state, _ = run([(0.0, rt.ResponseCreated("r1")), (0.0, audio(300))])
    state, log = run([(0.1, _words("You're covered."))], state)
    assert ev.CancelResponse("r1") in [c for _, c in log]
    state, log = run([(0.2, start())], state)
    assert not any(isinstance(c, ev.SendMedia) for _, c in log)  # its audio never plays


def test_an_ended_call_checks_nothing() -> None:
    state, _ = run([(1.0, tw.Stop("CA1"))], live_at())
    state, log = run([(1.1, _words("You're covered."))], state)
    assert log == []


async def test_a_scripted_session_speaks_the_fixed_line_instead_of_the_quote() -> None:
    call = Call()
    await call.live()
    await call.model.frame("response.created", response={"id": "r1"})
    await call.model.frame(
        "response.output_audio_transcript.delta",
        response_id="r1",
        item_id="i1",
        delta="Your premium will be $212 a month.",
    )
    assert any(f["type"] == "response.cancel" for f in call.model.sent)
    await call.model.frame("response.done", response={"id": "r1", "status": "cancelled"})
    creates = [f for f in call.model.sent if f["type"] == "response.create"]
    assert "licensed agent" in json.dumps(creates[-1])
    await call.session.shutdown()
    await call.end()
    assert any(t.role == "system" and "guard-rail" in t.text for t in call.memory.turns)
    assert call.memory.ends[-1].guardrails == ("quote",)
