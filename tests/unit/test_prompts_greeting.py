"""Greetings: template validation, time-of-day bands across zones and DST, rendering."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

import pytest

from prompts.greeting import (
    DEFAULT_NEW_CALLER_GREETING,
    DEFAULT_RETURNING_GREETING,
    PLACEHOLDERS,
    choose_greeting,
    render_greeting,
    time_greeting,
    validate_greeting_template,
)

NY = "America/New_York"
TOKYO = "Asia/Tokyo"


def utc(year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def test_defaults_are_valid() -> None:
    assert frozenset({"agent_name", "user_name", "time_greeting"}) == PLACEHOLDERS
    validate_greeting_template(DEFAULT_NEW_CALLER_GREETING, returning=False)
    validate_greeting_template(DEFAULT_RETURNING_GREETING, returning=True)
    validate_greeting_template(DEFAULT_NEW_CALLER_GREETING, returning=True)


@pytest.mark.parametrize(
    ("template", "returning", "message"),
    [
        ("", False, "empty"),
        ("   \n", True, "empty"),
        ("x" * 301, False, "longer than 300"),
        ("Hi {name}!", False, "unknown placeholder {name}"),
        ("Hi {}!", False, "unknown placeholder {}"),
        ("Hi {0}!", False, "unknown placeholder {0}"),
        ("Hi {agent_name.upper}!", False, "unknown placeholder {agent_name.upper}"),
        ("Hi {agent_name!r}!", False, "format spec"),
        ("Hi {agent_name:>20}!", False, "format spec"),
        ("Hi {agent_name", False, "unbalanced braces"),
        ("Hi agent_name}", False, "unbalanced braces"),
        ("Is this {user_name}?", False, "new-caller greeting cannot use {user_name}"),
    ],
)
def test_invalid_templates(template: str, returning: bool, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        validate_greeting_template(template, returning=returning)


def test_template_edge_cases_that_are_fine() -> None:
    validate_greeting_template("x" * 300, returning=False)
    validate_greeting_template("Hello {{friend}}, this is {agent_name}.", returning=False)
    validate_greeting_template("Hi, this is {agent_name}. Welcome back!", returning=True)


@pytest.mark.parametrize(
    ("now", "zone", "expected"),
    [
        # New York in winter (EST, UTC-5): the 11:59 / 12:00 boundary.
        (utc(2025, 1, 15, 16, 59), NY, "Good morning"),
        (utc(2025, 1, 15, 17, 0), NY, "Good afternoon"),
        # ... and the very same instants in Tokyo (UTC+9) are the small hours of the next day.
        (utc(2025, 1, 15, 16, 59), TOKYO, "Good evening"),
        (utc(2025, 1, 15, 17, 0), TOKYO, "Good evening"),
        # New York in summer (EDT, UTC-4): the same boundary one hour earlier in UTC.
        (utc(2025, 7, 15, 15, 59), NY, "Good morning"),
        (utc(2025, 7, 15, 16, 0), NY, "Good afternoon"),
        (utc(2025, 7, 15, 16, 59), NY, "Good afternoon"),
        # 16:59 / 17:00 and 04:59 / 05:00 local.
        (utc(2025, 7, 15, 20, 59), NY, "Good afternoon"),
        (utc(2025, 7, 15, 21, 0), NY, "Good evening"),
        (utc(2025, 7, 15, 8, 59), NY, "Good evening"),
        (utc(2025, 7, 15, 9, 0), NY, "Good morning"),
        # Tokyo on its own: 05:00 JST is 20:00 UTC the day before.
        (utc(2025, 7, 14, 19, 59), TOKYO, "Good evening"),
        (utc(2025, 7, 14, 20, 0), TOKYO, "Good morning"),
        (utc(2025, 7, 15, 3, 0), TOKYO, "Good afternoon"),
        # Spring forward (2025-03-09, 02:00 EST -> 03:00 EDT): 09:00 UTC is 04:00 local the day
        # before and 05:00 local on the day.
        (utc(2025, 3, 8, 9, 0), NY, "Good evening"),
        (utc(2025, 3, 9, 9, 0), NY, "Good morning"),
        # Fall back (2025-11-02, 02:00 EDT -> 01:00 EST): 09:30 UTC is 05:30 then 04:30.
        (utc(2025, 11, 1, 9, 30), NY, "Good morning"),
        (utc(2025, 11, 2, 9, 30), NY, "Good evening"),
        # A non-UTC aware input is converted, not read as wall-clock time.
        (datetime(2025, 1, 15, 12, 0, tzinfo=timezone(timedelta(hours=1))), NY, "Good morning"),
    ],
)
def test_time_greeting(now: datetime, zone: str, expected: str) -> None:
    assert time_greeting(now, zone) == expected


def test_time_greeting_needs_an_aware_datetime() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        time_greeting(datetime(2025, 1, 15, 12, 0), NY)


@pytest.mark.parametrize("zone", ["Mars/Olympus_Mons", "", "../etc/passwd", "America/New York"])
def test_time_greeting_rejects_unknown_zones(zone: str) -> None:
    with pytest.raises(ValueError, match="unknown time zone"):
        time_greeting(utc(2025, 1, 15, 12, 0), zone)


MORNING_NY = utc(2025, 1, 15, 14, 0)  # 09:00 EST


def test_render_defaults() -> None:
    new = render_greeting(
        DEFAULT_NEW_CALLER_GREETING,
        agent_name="Sarah",
        user_name=None,
        now=MORNING_NY,
        time_zone=NY,
    )
    assert new == "Good morning! This is Sarah. How can I help you?"
    returning = render_greeting(
        DEFAULT_RETURNING_GREETING,
        agent_name="Sarah",
        user_name="  Dana  ",
        now=MORNING_NY,
        time_zone=NY,
    )
    assert returning == "Hi, this is Sarah. Is this Dana?"


@pytest.mark.parametrize("user_name", [None, "", "   ", "\n\t"])
def test_render_refuses_user_name_placeholder_without_a_name(user_name: str | None) -> None:
    with pytest.raises(ValueError, match="no caller name is known"):
        render_greeting(
            DEFAULT_RETURNING_GREETING,
            agent_name="Sarah",
            user_name=user_name,
            now=MORNING_NY,
            time_zone=NY,
        )


def test_render_refuses_blank_agent_name() -> None:
    with pytest.raises(ValueError, match="agent_name is blank"):
        render_greeting(
            DEFAULT_NEW_CALLER_GREETING,
            agent_name=" ",
            user_name=None,
            now=MORNING_NY,
            time_zone=NY,
        )


def test_render_does_not_substitute_twice() -> None:
    text = render_greeting(
        DEFAULT_RETURNING_GREETING,
        agent_name="Sarah",
        user_name="{agent_name}",
        now=MORNING_NY,
        time_zone=NY,
    )
    assert text == "Hi, this is Sarah. Is this {agent_name}?"


def test_render_escaped_braces() -> None:
    text = render_greeting(
        "{{Hi}} {agent_name}", agent_name="Sam", user_name=None, now=MORNING_NY, time_zone=NY
    )
    assert text == "{Hi} Sam"


@pytest.mark.parametrize("user_name", [None, "", "  ", "Dana", "Mary Ann", "O'Brien"])
@pytest.mark.parametrize("hour", [0, 5, 11, 12, 16, 17, 23])
def test_choose_never_outputs_an_empty_placeholder(user_name: str | None, hour: int) -> None:
    text = choose_greeting(
        new_caller_template=DEFAULT_NEW_CALLER_GREETING,
        returning_template=DEFAULT_RETURNING_GREETING,
        user_name=user_name,
        agent_name="Sarah",
        now=utc(2025, 1, 15, hour, 30),
        time_zone=NY,
    )
    assert "{" not in text
    assert "}" not in text
    assert not re.search(r"\s[?!.,]|this\s*\?|^\W", text), text
    if user_name and user_name.strip():
        assert text == f"Hi, this is Sarah. Is this {user_name.strip()}?"
    else:
        assert text.endswith("! This is Sarah. How can I help you?")


def test_choose_validates_the_new_caller_template() -> None:
    with pytest.raises(ValueError, match="new-caller greeting cannot use"):
        choose_greeting(
            new_caller_template="Hi {user_name}",
            returning_template=DEFAULT_RETURNING_GREETING,
            user_name="Dana",
            agent_name="Sarah",
            now=MORNING_NY,
            time_zone=NY,
        )


def test_choose_uses_custom_templates() -> None:
    text = choose_greeting(
        new_caller_template="{time_greeting}, {agent_name} at Harbor Insurance.",
        returning_template="Welcome back, {user_name}! {agent_name} here.",
        user_name="Dana",
        agent_name="Sarah",
        now=utc(2025, 1, 15, 22, 0),
        time_zone=NY,
    )
    assert text == "Welcome back, Dana! Sarah here."
