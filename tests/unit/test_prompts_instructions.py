"""Session instructions: snapshots, section order, the caller line, greeting and resume texts.

Snapshots live in ``tests/unit/snapshots/*.txt`` and are compared exactly. After an
intended change to the prompt text, rewrite them and review the diff before committing:

    UPDATE_SNAPSHOTS=1 pytest tests/unit/test_prompts_instructions.py
    git diff tests/unit/snapshots/
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from prompts.blocks import BLOCK_PRESETS
from prompts.context import NEW_CALLER_LINE, pack_context
from prompts.greeting import (
    DEFAULT_NEW_CALLER_GREETING,
    DEFAULT_RETURNING_GREETING,
    choose_greeting,
)
from prompts.instructions import (
    AgentPrompt,
    build_instructions,
    format_date_time,
    greeting_request,
    resume_request,
)
from prompts.persona import PRESETS, apply_preset
from tests.unit.test_prompts_context import EMPTY, NOW, full_context

SNAPSHOTS = Path(__file__).parent / "snapshots"
CALLER = "+15550102030"
ZONE = "America/New_York"

DEFAULT_AGENT = AgentPrompt(
    agency_name="Harbor Insurance Group",
    agent_name="Sarah",
    sliders={},
    blocks={},
    time_zone=ZONE,
)
PROFESSIONAL_AGENT = AgentPrompt(
    agency_name="Harbor Insurance Group",
    agent_name="Sarah",
    sliders=apply_preset("professional"),
    blocks={
        "system_role": "expert_consultant",
        "emotional_tone": "confident_reassuring",
        "conversational_style": "concise_clear",
        "knowledge_context": "policy_focused",
        "safety_boundaries": "strict_compliance",
    },
    time_zone=ZONE,
    tools=("search_knowledge", "take_message", "transfer_call", "end_call"),
    extra_rules=("Office hours are Monday to Friday, 9 am to 5 pm Eastern.",),
)


def assert_snapshot(name: str, text: str) -> None:
    path = SNAPSHOTS / f"{name}.txt"
    if os.environ.get("UPDATE_SNAPSHOTS") == "1":
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(text.encode("utf-8"))
        return
    if not path.exists():
        pytest.fail(f"snapshot {path} is missing; run with UPDATE_SNAPSHOTS=1 to create it")
    expected = path.read_bytes().decode("utf-8")
    assert text == expected, f"{name} differs from its snapshot; see the module docstring"


def new_caller_instructions() -> str:
    greeting = choose_greeting(
        new_caller_template=DEFAULT_NEW_CALLER_GREETING,
        returning_template=DEFAULT_RETURNING_GREETING,
        user_name=None,
        agent_name=DEFAULT_AGENT.agent_name,
        now=NOW,
        time_zone=ZONE,
    )
    return build_instructions(
        DEFAULT_AGENT,
        caller_number=CALLER,
        context=pack_context(EMPTY, now=NOW),
        greeting=greeting,
        now=NOW,
    )


def returning_instructions(resumed_from: str | None = None) -> str:
    ctx = full_context()
    assert ctx.profile is not None
    greeting = choose_greeting(
        new_caller_template=DEFAULT_NEW_CALLER_GREETING,
        returning_template=DEFAULT_RETURNING_GREETING,
        user_name=ctx.profile.preferred_name,
        agent_name=PROFESSIONAL_AGENT.agent_name,
        now=NOW,
        time_zone=ZONE,
    )
    return build_instructions(
        PROFESSIONAL_AGENT,
        caller_number=CALLER,
        context=pack_context(ctx, now=NOW),
        greeting=greeting,
        now=NOW,
        resumed_from=resumed_from,
    )


RECAP = (
    "Caller: I'd like to add my son Leo to the auto policy.\n"
    "Agent: Happy to help. Do you have his permit number?\n"
    'Caller: Yes, it\'s on the card, it says "D-482..."'
)


def test_snapshot_new_caller_default_agent() -> None:
    assert_snapshot("instructions_new_caller_default", new_caller_instructions())


def test_snapshot_returning_caller_professional() -> None:
    assert_snapshot("instructions_returning_professional", returning_instructions())


def test_snapshot_resumed_call() -> None:
    assert_snapshot("instructions_resumed", returning_instructions(resumed_from=RECAP))


def test_sections_come_in_the_fixed_order() -> None:
    text = returning_instructions(resumed_from=RECAP)
    headings = re.findall(r"^# .*$", text, re.MULTILINE)
    assert headings == [
        "# Who you are",
        "# Your tone",
        "# How you speak",
        "# What you focus on",
        "# Boundaries",
        "# Personality",
        "# Rules you always follow",
        "# Tools",
        "# Date and time",
        "# The caller",
        "# How the call started",
        "# The call was interrupted",
    ]
    blocks = [
        BLOCK_PRESETS["system_role"]["expert_consultant"],
        BLOCK_PRESETS["emotional_tone"]["confident_reassuring"],
        BLOCK_PRESETS["conversational_style"]["concise_clear"],
        BLOCK_PRESETS["knowledge_context"]["policy_focused"],
        BLOCK_PRESETS["safety_boundaries"]["strict_compliance"],
    ]
    positions = [text.index(block) for block in blocks]
    assert positions == sorted(positions)


def test_identity_and_rules() -> None:
    text = new_caller_instructions()
    assert text.startswith(
        "# Who you are\nYou are Sarah, the phone assistant of Harbor Insurance Group."
    )
    assert "Never deny being an AI" in text
    assert "Never invent policy numbers" in text
    assert "Confirm the spelling of names" in text
    assert "Keep your answers short" in text
    assert "Speak the caller's language" in text


@pytest.mark.parametrize("number", ["+15550102030", "+44 20 7946 0958", "anonymous", "266696687"])
def test_caller_number_line_is_exact(number: str) -> None:
    text = build_instructions(
        DEFAULT_AGENT, caller_number=number, context="", greeting="Hello!", now=NOW
    )
    assert f"The caller is calling from {number}." in text.splitlines()


def test_greeting_is_quoted_once_and_never_to_be_repeated() -> None:
    text = build_instructions(
        DEFAULT_AGENT,
        caller_number=CALLER,
        context="",
        greeting='Good morning! This is "Sarah".\nHow can I help?',
        now=NOW,
    )
    line = (
        "You have already greeted the caller with: "
        "\"Good morning! This is 'Sarah'. How can I help?\""
    )
    assert line in text.splitlines()
    assert text.count("Good morning! This is") == 1
    assert "do not greet the caller again" in text


def test_defaults_omit_persona_and_offer_no_tools() -> None:
    text = new_caller_instructions()
    assert "# Personality" not in text
    assert "You have no tools on this call." in text
    assert "# The call was interrupted" not in text
    assert NEW_CALLER_LINE in text


def test_persona_lines_follow_the_sliders() -> None:
    agent = AgentPrompt("Harbor", "Sarah", {"humor": 10}, {}, ZONE)
    text = build_instructions(agent, caller_number=CALLER, context="", greeting="Hi!", now=NOW)
    assert "# Personality\nThe agency has tuned your manner as follows.\n- Do not joke;" in text


def test_tools_are_listed_once_each_with_hints() -> None:
    agent = AgentPrompt(
        "Harbor", "Sarah", {}, {}, ZONE, tools=("end_call", "crm_lookup", "end_call")
    )
    text = build_instructions(agent, caller_number=CALLER, context="", greeting="Hi!", now=NOW)
    assert text.count("- end_call: Use it when the conversation is over") == 1
    assert "- crm_lookup: Use it when its description says it applies." in text
    assert "You have no tools" not in text


def test_date_and_time_in_the_tenant_zone() -> None:
    assert format_date_time(NOW, ZONE) == "Tuesday, March 4, 2025, 10:30 AM"
    assert format_date_time(NOW, "Asia/Tokyo") == "Wednesday, March 5, 2025, 12:30 AM"
    assert format_date_time(datetime(2025, 7, 4, 16, 5, tzinfo=UTC), ZONE) == (
        "Friday, July 4, 2025, 12:05 PM"
    )
    text = new_caller_instructions()
    assert (
        "It is Tuesday, March 4, 2025, 10:30 AM in the agency's time zone (America/New_York)."
        in text
    )


def test_resumed_section() -> None:
    text = returning_instructions(resumed_from=RECAP)
    section = text[text.index("# The call was interrupted") :]
    assert "briefly interrupted" in section
    assert RECAP in section
    assert "Do not greet the caller again." in section
    assert "Apologise in one short sentence" in section
    assert "Sorry about that - you were telling me about" in section


def test_resumed_with_an_empty_recap() -> None:
    text = returning_instructions(resumed_from="  ")
    assert "Nothing yet beyond your greeting." in text


def test_output_is_deterministic() -> None:
    reordered = AgentPrompt(
        agency_name=PROFESSIONAL_AGENT.agency_name,
        agent_name=PROFESSIONAL_AGENT.agent_name,
        sliders=dict(reversed(list(PRESETS["professional"].items()))),
        blocks=dict(reversed(list(PROFESSIONAL_AGENT.blocks.items()))),
        time_zone=ZONE,
        tools=PROFESSIONAL_AGENT.tools,
        extra_rules=PROFESSIONAL_AGENT.extra_rules,
    )
    first = returning_instructions()
    assert first == returning_instructions()
    again = build_instructions(
        reordered,
        caller_number=CALLER,
        context=pack_context(full_context(), now=NOW),
        greeting="Hi, this is Sarah. Is this Dana Whitfield?",
        now=NOW,
    )
    assert again == first


def test_custom_block_text_is_used_literally() -> None:
    agent = AgentPrompt(
        "Harbor", "Sarah", {}, {"emotional_tone": "custom:Be calm {agent_name}."}, ZONE
    )
    text = build_instructions(agent, caller_number=CALLER, context="", greeting="Hi!", now=NOW)
    assert "# Your tone\nBe calm {agent_name}.\n" in text


def test_extra_rules_are_appended_to_the_rules() -> None:
    text = returning_instructions()
    rules = text[text.index("# Rules you always follow") : text.index("# Tools")]
    assert rules.rstrip().endswith("- Office hours are Monday to Friday, 9 am to 5 pm Eastern.")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"caller_number": " "}, "caller_number is blank"),
        ({"greeting": ""}, "greeting is blank"),
        ({"now": datetime(2025, 3, 4, 10, 30)}, "timezone-aware"),
    ],
)
def test_build_rejects(kwargs: dict[str, object], message: str) -> None:
    arguments: dict[str, object] = {
        "caller_number": CALLER,
        "context": "",
        "greeting": "Hi!",
        "now": NOW,
        **kwargs,
    }
    with pytest.raises(ValueError, match=message):
        build_instructions(DEFAULT_AGENT, **arguments)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("agent", "message"),
    [
        (AgentPrompt("Harbor", "Sarah", {}, {}, "Nowhere/Land"), "unknown time zone"),
        (AgentPrompt("Harbor", " ", {}, {}, ZONE), "agent_name is blank"),
        (AgentPrompt("", "Sarah", {}, {}, ZONE), "agency_name is blank"),
        (AgentPrompt("Harbor", "Sarah", {"warmth": 101}, {}, ZONE), "'warmth'"),
        (AgentPrompt("Harbor", "Sarah", {}, {"tone": "x"}, ZONE), "unknown prompt block"),
    ],
)
def test_build_rejects_bad_agents(agent: AgentPrompt, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build_instructions(agent, caller_number=CALLER, context="", greeting="Hi!", now=NOW)


def between_quotes(text: str) -> str:
    return text[text.index('"') + 1 : text.rindex('"')]


@pytest.mark.parametrize(
    ("greeting", "spoken"),
    [
        ("Good morning! This is Sarah. How can I help you?", None),
        ('Hi, this is "Sarah". Is this Dana?', "Hi, this is 'Sarah'. Is this Dana?"),
        ("Hi, this is “Sarah”.\n  Is this Dana?", "Hi, this is 'Sarah'. Is this Dana?"),
        ('"', "'"),
    ],
)
def test_greeting_request(greeting: str, spoken: str | None) -> None:
    request = greeting_request(greeting)
    assert request.count('"') == 2
    assert between_quotes(request) == (spoken if spoken is not None else greeting)
    assert request.startswith("Say exactly this greeting and nothing else: ")


def test_greeting_request_rejects_blank() -> None:
    with pytest.raises(ValueError, match="greeting is blank"):
        greeting_request("  ")


def test_resume_request_has_no_double_quotes() -> None:
    text = resume_request()
    assert '"' not in text
    assert "do not greet" in text


def test_prompts_import_no_heavy_dependencies() -> None:
    """The call actor builds prompts; importing them must not pull in heavy packages."""
    code = (
        "import sys, prompts.instructions, prompts.context, prompts.greeting; "
        "print(sorted(m for m in ('ray', 'openai', 'asyncpg', 'pydantic', 'httpx', "
        "'structlog', 'jsonschema') if m in sys.modules))"
    )
    result = subprocess.run(  # noqa: S603 - fixed argv, our own interpreter
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "[]"
