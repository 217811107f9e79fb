"""AI disclosure said, not only asked for: when the tenant must disclose the AI, the greeting the
model actually spoke is checked, and a greeting that left the disclosure out is followed by the
engine's own disclosure line (engine.disclosure_steps). Scripted sessions fed the model's
frames, and timelines through the state machine."""

from __future__ import annotations

import dataclasses
import json

from engine import call_events as ev
from engine import call_state as cs
from engine import realtime_codec as rt
from engine.call_control import CallRules
from prompts import call_lines
from prompts.disclosure import disclosure_line
from tests.unit.session_fakes import TENANT, Call
from tests.unit.test_call_state import audio, run, start

MUST_DISCLOSE = dataclasses.replace(TENANT, ai_disclosure_required=True)
LINE = call_lines.fixed(disclosure_line(TENANT.name))


async def _greeted(call: Call, greeting: str) -> list[str]:
    """The model speaks `greeting` as the call's first answer; the response.creates after it."""
    await call.live()
    before = len([f for f in call.model.sent if f["type"] == "response.create"])
    await call.model.frame("response.created", response={"id": "r1"})
    await call.model.frame(
        "response.output_audio_transcript.done", response_id="r1", item_id="i1", transcript=greeting
    )
    await call.model.frame("response.done", response={"id": "r1", "status": "completed"})
    creates = [f for f in call.model.sent if f["type"] == "response.create"]
    return [json.dumps(f) for f in creates[before:]]


async def _close(call: Call) -> None:
    await call.session.shutdown()
    await call.end()


async def test_a_greeting_that_left_the_disclosure_out_is_followed_by_the_disclosure() -> None:
    call = Call(MUST_DISCLOSE)
    asked = await _greeted(call, "Hi, thanks for calling Acme Insurance, how can I help?")
    assert len(asked) == 1
    assert "AI assistant" in asked[0]
    await _close(call)
    assert any(t.role == "system" and "AI disclosure" in t.text for t in call.memory.turns)


async def test_a_greeting_that_disclosed_is_left_alone() -> None:
    call = Call(MUST_DISCLOSE)
    assert await _greeted(call, "Hi, I'm Acme's AI assistant. How can I help?") == []
    await _close(call)


async def test_a_tenant_that_need_not_disclose_is_not_checked() -> None:
    call = Call(TENANT)
    assert await _greeted(call, "Hi, thanks for calling Acme Insurance.") == []
    await _close(call)


async def test_a_resumed_call_does_not_say_it_again() -> None:
    call = Call(MUST_DISCLOSE, attempt=1)
    assert await _greeted(call, "As I was saying, the adjuster will call you.") == []
    await _close(call)


def _state(disclosure: str = LINE) -> cs.CallState:
    state = cs.new_call("CA1", "media-token-0123456789", CallRules(disclosure=disclosure))
    state, _ = run([(0.0, start()), (0.0, rt.ResponseCreated("r1"))], state)
    return state


def test_only_the_first_answer_is_checked_and_the_line_said_once() -> None:
    state, log = run([(0.5, rt.AgentTranscript("r1", "i1", "Hello, Acme Insurance."))], _state())
    assert ev.RecordTurn("system", "AI disclosure: said after the greeting left it out") in [
        c for _, c in log
    ]
    state, log = run([(0.6, rt.ResponseDone("r1", "completed"))], state)
    assert [c.instructions for _, c in log if isinstance(c, ev.CreateResponse)] == [LINE]
    state, _ = run(
        [(0.7, rt.ResponseCreated("r2")), (1.0, rt.ResponseDone("r2", "completed"))], state
    )
    state, log = run(
        [(2.0, rt.ResponseCreated("r3")), (2.1, rt.AgentTranscript("r3", "i3", "Sure."))], state
    )
    assert log[-1:] == [(2.1, ev.RecordTurn("agent", "Sure.", {"item_id": "i3"}))]


def test_a_spanish_greeting_that_discloses_counts() -> None:
    greeting = "Hola, soy el asistente virtual de Acme. ¿En qué le puedo ayudar?"
    _, log = run([(0.5, rt.AgentTranscript("r1", "i1", greeting))], _state())
    assert not any(c.role == "system" for _, c in log if isinstance(c, ev.RecordTurn))


GREETING = "You're speaking with Acme's AI assistant, and I'm happy to help. How can I help you?"


def _greeting_cut_at(heard_s: float) -> tuple[cs.CallState, list[tuple[float, ev.Command]]]:
    """The greeting (4 s of audio) is spoken; the caller cuts in after `heard_s` of it, and the
    agent's answer to them comes next."""
    state, _ = run(
        [(0.0, audio(2000)), (0.0, audio(2000)), (0.1, rt.AgentTranscript("r1", "i1", GREETING))],
        _state(),
    )
    state, _ = run(
        [
            (heard_s, rt.SpeechStarted(0, "u1")),
            (heard_s + 0.05, rt.ResponseDone("r1", "cancelled")),
            (heard_s + 1.0, rt.ResponseCreated("r2")),
            (heard_s + 1.5, rt.AgentTranscript("r2", "i2", "Sure, what's your claim number?")),
        ],
        state,
    )
    return run([(heard_s + 2.0, rt.ResponseDone("r2", "completed"))], state)


def test_a_greeting_cut_before_the_disclosure_was_heard_is_followed_by_it() -> None:
    state, log = _greeting_cut_at(0.5)
    assert state.disclosed_in is None
    assert [c.instructions for _, c in log if isinstance(c, ev.CreateResponse)] == [LINE]


def test_a_greeting_cut_after_the_disclosure_was_heard_is_not() -> None:
    _, log = _greeting_cut_at(3.0)
    assert [c for _, c in log if isinstance(c, ev.CreateResponse)] == []
