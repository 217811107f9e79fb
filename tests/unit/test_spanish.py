"""Spanish-speaking callers: the caller's language from their words, the fixed lines in it, the
greeting's offer and the instructions; a scripted Spanish call through the state machine."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from engine import call_events as ev
from engine import call_state as cs
from engine import realtime_codec as rt
from engine import twilio_codec as tw
from engine.audio import b64
from engine.call_control import CallRules
from engine.config import TenantConfig
from engine.language import detect_language
from engine.session_prompt import EMPTY_CONTEXT, SPEAK_THE_CALLERS_LANGUAGE, session_prompt
from prompts import call_lines

TOKEN = "media-token-0123456789"
Log = list[tuple[float, ev.Command]]


def run(
    timeline: Sequence[tuple[float, ev.CallEvent]], state: cs.CallState
) -> tuple[cs.CallState, Log]:
    out: Log = []
    for now, event in timeline:
        state, commands = cs.step(state, event, now)
        out.extend((now, c) for c in commands)
    return state, out


def live(rules: CallRules) -> cs.CallState:
    state, _ = run(
        [(0.0, tw.Start("MZ1", "CA1", "AC1", {"token": TOKEN}))], cs.new_call("CA1", TOKEN, rules)
    )
    return replace(state, greeted=True)


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("Hola, quiero cambiar la dirección de mi póliza.", "es"),
        ("¿Puede ayudarme con un reclamo?", "es"),
        ("Buenos días, necesito hablar con alguien", "es"),
        ("Hi, I need to change the address on my policy.", "en"),
        ("What does my car insurance cover?", "en"),
        ("Okay.", None),
        ("Dana Whitfield", None),
        ("", None),
    ],
)
def test_the_callers_language_from_their_words(text: str, language: str | None) -> None:
    assert detect_language(text) == language


def test_every_fixed_line_exists_in_spanish() -> None:
    es = call_lines.lines("es")
    for name in ("goodbye", "still_there", "silence_goodbye", "time_limit", "filler"):
        english, spanish = getattr(call_lines.lines("en"), name), getattr(es, name)
        assert spanish != english
        assert call_lines.localize(english, "es") == spanish
        assert call_lines.localize(english, "en") == english
    assert call_lines.localize(call_lines.handoff("claims"), "es") == es.handoff("claims")
    assert "transfiriendo con claims" in es.handoff("claims")
    assert call_lines.localize("Answer the question.", "es") == "Answer the question."
    assert call_lines.lines("fr") is call_lines.lines("en")


def test_a_spanish_call_gets_its_lines_in_spanish_and_records_the_language() -> None:
    rules = CallRules(silence_s=10, spanish=True, min_interrupt_ms=500)
    state, log = run(
        [
            (1.0, rt.SpeechStarted(0, "u1")),
            (2.0, rt.SpeechStopped(1900, "u1")),
            (2.25, rt.CallerTranscript("u1", "Hola, quiero cambiar mi dirección.")),
            (2.5, rt.ResponseCreated("r1")),
            (2.5, rt.AudioDelta("r1", "i1", b64(bytes(800)))),
            (2.75, rt.ResponseDone("r1", "completed")),
            (3.0, tw.Mark("m1")),
            # a tool's goodbye, written in English, is said in Spanish
            (
                4.0,
                ev.ToolResult("c1", "end_call", "{}", close="hang_up", say=call_lines.GOODBYE),
            ),
        ],
        live(rules),
    )
    assert state.language == "es"
    creates = [c for _, c in log if isinstance(c, ev.CreateResponse)]
    assert creates == [ev.CreateResponse(None), ev.CreateResponse(call_lines.lines("es").goodbye)]


def test_silence_is_asked_about_in_the_callers_language() -> None:
    state, _ = run(
        [(0.5, rt.CallerTranscript("u1", "Buenas tardes, tengo una pregunta"))],
        live(CallRules(silence_s=10, spanish=True)),
    )
    _, log = run([(1.0 + i, ev.Tick()) for i in range(11)], state)
    assert ev.CreateResponse(call_lines.lines("es").still_there) in [c for _, c in log]


def test_an_agency_without_spanish_stays_in_english() -> None:
    state, log = run(
        [
            (0.5, rt.CallerTranscript("u1", "Hola, quiero cambiar mi dirección.")),
            (1.0, ev.RequestResponse(call_lines.GOODBYE)),
        ],
        live(CallRules()),
    )
    assert state.language == "en"
    assert log[-1] == (1.0, ev.CreateResponse(call_lines.GOODBYE))


def test_the_greeting_offers_spanish_and_the_agent_follows_the_caller() -> None:
    tenant = TenantConfig(
        tenant_id="t1",
        name="Agency",
        spanish=True,
        record_calls=True,
        recording_consent="This call is recorded.",
    )
    now = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
    prompt = session_prompt(
        tenant, caller_number="+15550100", context=EMPTY_CONTEXT, tools=(), now=now
    )
    assert prompt.greeting.startswith("This call is recorded.")
    assert prompt.greeting.endswith(
        f"{call_lines.SPANISH_RECORDING_NOTICE} {call_lines.SPANISH_OFFER}"
    )
    assert SPEAK_THE_CALLERS_LANGUAGE in prompt.instructions
    english_only = session_prompt(
        replace(tenant, spanish=False),
        caller_number="+15550100",
        context=EMPTY_CONTEXT,
        tools=(),
        now=now,
    )
    assert call_lines.SPANISH_OFFER not in english_only.greeting
    assert SPEAK_THE_CALLERS_LANGUAGE not in english_only.instructions
