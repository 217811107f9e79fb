"""AI disclosure: a greeting that does not say the caller is talking with an AI gets a line
before it wherever disclosure is required, and is left alone otherwise."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from engine.config import TenantConfig
from engine.session_prompt import session_prompt
from prompts.context import CallerContext
from prompts.disclosure import discloses_ai, disclosure_required, with_disclosure

NOW = datetime(2026, 12, 4, 15, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "greeting",
    [
        "Hi, this is Ava, Acme's AI assistant.",
        "Hello! I'm a virtual assistant for Acme.",
        "This call is answered by an automated system.",
        "You're talking with a bot.",
        "Hi, I'm Ava, an A.I. agent.",
    ],
)
def test_a_greeting_that_discloses_is_recognised(greeting: str) -> None:
    assert discloses_ai(greeting)


@pytest.mark.parametrize(
    "greeting",
    [
        "Good morning! This is Ava. How can I help you?",
        "Hi, this is Ava. Is this Dana?",
        "Aid is on the way",
    ],
)
def test_a_greeting_that_does_not_disclose_is_recognised(greeting: str) -> None:
    assert not discloses_ai(greeting)


@pytest.mark.parametrize(
    ("policy", "jurisdiction", "mandatory", "required"),
    [
        ("always", None, False, True),
        ("jurisdiction", "CA", False, True),
        ("jurisdiction", "TX", False, False),
        ("jurisdiction", None, False, False),
        ("jurisdiction", "TX", True, True),
    ],
)
def test_where_disclosure_is_required(
    policy: str, jurisdiction: str | None, mandatory: bool, required: bool
) -> None:
    assert (
        disclosure_required(policy=policy, jurisdiction=jurisdiction, platform_mandatory=mandatory)
        is required
    )


def test_an_unknown_policy_is_refused() -> None:
    with pytest.raises(ValueError, match="ai_disclosure"):
        disclosure_required(policy="never", jurisdiction=None, platform_mandatory=False)


def test_the_line_comes_first_only_when_needed() -> None:
    plain = "Good morning! This is Ava. How can I help you?"
    assert with_disclosure(plain, agency_name="Acme", required=False) == plain
    spoken = with_disclosure(plain, agency_name="Acme", required=True)
    assert spoken.endswith(plain)
    assert discloses_ai(spoken.removesuffix(plain))
    disclosed = "Hi, I'm Ava, Acme's AI assistant."
    assert with_disclosure(disclosed, agency_name="Acme", required=True) == disclosed


def test_the_session_greeting_discloses_where_required_after_the_recording_notice() -> None:
    tenant = TenantConfig(
        tenant_id="t1",
        name="Acme Insurance",
        ai_disclosure_required=True,
        record_calls=True,
        recording_consent="This call may be recorded.",
    )
    made = session_prompt(
        tenant,
        caller_number="+15550100001",
        context=CallerContext(None, {}, (), (), ()),
        tools=(),
        now=NOW,
    )
    assert made.greeting.startswith(
        "This call may be recorded. You're speaking with Acme Insurance's AI assistant"
    )
    assert made.greeting in made.instructions
