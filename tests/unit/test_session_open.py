"""What a new model session starts with: configuration, then the greeting (first session), the
conversation and a resume line (a call resumed on a new actor), or the conversation alone (a
session replacing a dropped or rotated one)."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime

from engine.call_events import ModelReconnected, RequestResponse
from engine.config import TenantConfig, VadConfig
from engine.session_open import Opening, SessionFacts, loads_history, opening, recap, replay
from engine.session_prompt import EMPTY_CONTEXT
from engine.tools import tool_specs
from memory.call_records import Turn
from prompts.instructions import resume_request

NOW = datetime(2026, 1, 5, 9, 30, tzinfo=UTC)
TENANT = TenantConfig(tenant_id="t1", name="Acme Insurance")
HISTORY = [
    Turn(0, "caller", "My car was hit", NOW),
    Turn(1, "agent", "I am sorry. Is anyone hurt?", NOW),
    Turn(2, "tool", "remember(...)", NOW),
    Turn(3, "dtmf", "1", NOW),
    Turn(4, "system", "silence: asked if the caller is still there", NOW),
]


def open_session(*, resumed: bool, reconnected: bool, tools: bool = True) -> Opening:
    history = HISTORY if (resumed or reconnected) else []
    facts = SessionFacts(
        "+15550100", EMPTY_CONTEXT, tool_specs(TENANT) if tools else {}, history, resumed
    )
    return opening(TENANT, facts, reconnected=reconnected, now=NOW)


def types(frames: list[str]) -> list[str]:
    return [json.loads(f)["type"] for f in frames]


def test_a_first_session_is_configured_then_asked_for_the_greeting() -> None:
    first = open_session(resumed=False, reconnected=False)
    assert types(first.frames) == ["session.update"]
    session = json.loads(first.frames[0])["session"]
    assert {t["name"] for t in session["tools"]} == set(tool_specs(TENANT))
    assert isinstance(first.then, RequestResponse)
    assert first.then.instructions is not None
    greeting = first.then.instructions.split('"')[1]
    assert greeting
    assert greeting in session["instructions"]


def test_the_tenants_turn_detection_is_what_the_session_is_configured_with() -> None:
    for vad, detection, noise in [
        (
            VadConfig(type="semantic_vad", eagerness="low", noise_reduction="far_field"),
            {"type": "semantic_vad", "eagerness": "low"},
            {"type": "far_field"},
        ),
        (
            VadConfig(silence_duration_ms=1200, noise_reduction="near_field"),
            {"type": "server_vad", "silence_duration_ms": 1200},
            {"type": "near_field"},
        ),
        (VadConfig(), {"type": "server_vad", "silence_duration_ms": 800}, None),
    ]:
        first = opening(
            dataclasses.replace(TENANT, vad=vad),
            SessionFacts("+15550100", EMPTY_CONTEXT, {}, [], resumed=False),
            reconnected=False,
            now=NOW,
        )
        heard = json.loads(first.frames[0])["session"]["audio"]["input"]
        assert heard["turn_detection"] | detection == heard["turn_detection"]
        # the engine decides when the agent stops and answers, whatever the detection
        assert heard["turn_detection"]["interrupt_response"] is False
        assert heard["turn_detection"]["create_response"] is False
        assert heard["noise_reduction"] == noise


def test_a_tenant_without_tools_sends_no_tool_list() -> None:
    first = open_session(resumed=False, reconnected=False, tools=False)
    assert "tools" not in json.loads(first.frames[0])["session"]


def test_a_resumed_call_replays_what_was_said_and_asks_for_a_resume_line() -> None:
    first = open_session(resumed=True, reconnected=False)
    assert types(first.frames) == ["session.update"] + ["conversation.item.create"] * 3
    items = [json.loads(f)["item"] for f in first.frames[1:]]
    assert [i["role"] for i in items] == ["user", "assistant", "user"]
    assert "Caller: My car was hit" in json.loads(first.frames[0])["session"]["instructions"]
    assert first.then == RequestResponse(resume_request())


def test_a_replacement_session_replays_and_leaves_what_to_ask_to_the_state_machine() -> None:
    again = open_session(resumed=False, reconnected=True)
    assert types(again.frames) == ["session.update"] + ["conversation.item.create"] * 3
    assert again.then == ModelReconnected()
    assert "Caller: My car was hit" not in json.loads(again.frames[0])["session"]["instructions"]


def test_recap_keeps_the_last_six_spoken_lines() -> None:
    turns = [Turn(i, "caller" if i % 2 else "agent", f"line {i}", NOW) for i in range(10)]
    turns.append(Turn(10, "tool", "lookup()", NOW))
    lines = recap(turns).splitlines()
    assert lines == [f"{'Caller' if i % 2 else 'You'}: line {i}" for i in range(4, 10)]


def test_replay_skips_tool_and_system_turns() -> None:
    assert len(replay(HISTORY)) == 3
    assert replay([]) == []


def test_history_is_loaded_once_by_the_first_session_of_a_resumed_call() -> None:
    assert loads_history(attempt=1, reconnected=False)
    assert not loads_history(attempt=1, reconnected=True)
    assert not loads_history(attempt=0, reconnected=False)


def test_with_an_outside_voice_the_model_answers_in_text_and_the_voice_greets() -> None:
    new = SessionFacts("+15550100", EMPTY_CONTEXT, {}, [], resumed=False)
    first = opening(TENANT, new, reconnected=False, now=NOW, text_only=True)
    assert types(first.frames) == ["session.update", "conversation.item.create"]
    assert json.loads(first.frames[0])["session"]["output_modalities"] == ["text"]
    item = json.loads(first.frames[1])["item"]
    assert item["role"] == "assistant"
    assert first.greeting
    assert item["content"][0]["text"] == first.greeting
    assert first.then is None  # no model turn: the voice speaks it
    facts = dataclasses.replace(new, history=HISTORY, resumed=True)
    resumed = opening(TENANT, facts, reconnected=False, now=NOW, text_only=True)
    assert resumed.greeting is None
    assert isinstance(resumed.then, RequestResponse)


def test_recap_ends_with_the_note_of_a_warm_transfer_the_caller_came_back_from() -> None:
    text = "The transfer did not go through: nobody answered."
    note = Turn(3, "system", text, NOW, {"warm_transfer": "no-answer"})
    turns = [Turn(1, "caller", "Claims please", NOW), Turn(2, "agent", "One moment", NOW), note]
    assert recap(turns).splitlines()[-1] == f"Note: {text}"
    later = [*turns, Turn(4, "agent", "Sorry about that.", NOW)]
    assert "Note:" not in recap(later)  # said since: the note is history
    assert "Note:" not in recap([Turn(1, "system", "transfer to claims (keyword match)", NOW)])
