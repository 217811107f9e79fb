"""Greeting templates: validation, the time-of-day greeting, and rendering.

Pure functions; the clock is passed in. Time zones come from the system's IANA database
through ``zoneinfo`` (cached by ``zoneinfo`` itself).

A tenant has two templates: one for new callers and one for returning callers whose name is
known. Placeholders are ``{agent_name}``, ``{user_name}`` and ``{time_greeting}``.

Choosing the template is the caller code's job and the rule is simple: the returning-caller
template is used only when a non-blank name is known (``choose_greeting`` does exactly that).
``render_greeting`` refuses to render ``{user_name}`` without a name, so a greeting can never
come out as "Is this ?".
"""

from __future__ import annotations

import string
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

PLACEHOLDERS = frozenset({"agent_name", "user_name", "time_greeting"})
DEFAULT_NEW_CALLER_GREETING = "{time_greeting}! This is {agent_name}. How can I help you?"
DEFAULT_RETURNING_GREETING = "Hi, this is {agent_name}. Is this {user_name}?"
MAX_GREETING_CHARS = 300

_FORMATTER = string.Formatter()


def _placeholders(template: str) -> set[str]:
    """The placeholder names used in ``template``; ValueError on malformed ones."""
    try:
        parsed = list(_FORMATTER.parse(template))
    except ValueError as exc:
        raise ValueError(f"greeting template has unbalanced braces: {exc}") from None
    names: set[str] = set()
    for _literal, field, spec, conversion in parsed:
        if field is None:
            continue
        if field not in PLACEHOLDERS:
            valid = ", ".join("{" + name + "}" for name in sorted(PLACEHOLDERS))
            raise ValueError(
                f"greeting template uses unknown placeholder {{{field}}}; valid: {valid}"
            )
        if spec or conversion:
            raise ValueError(f"greeting placeholder {{{field}}} must not carry a format spec")
        names.add(field)
    return names


def validate_greeting_template(template: str, *, returning: bool) -> None:
    """Raise ``ValueError`` unless ``template`` is a usable greeting template.

    Refused: empty or blank text, more than 300 characters, unbalanced braces, unknown
    placeholders or format specs, and ``{user_name}`` in a new-caller template (a new
    caller's name is unknown by definition).
    """
    if not template.strip():
        raise ValueError("greeting template is empty")
    if len(template) > MAX_GREETING_CHARS:
        raise ValueError(f"greeting template is longer than {MAX_GREETING_CHARS} characters")
    names = _placeholders(template)
    if not returning and "user_name" in names:
        raise ValueError("the new-caller greeting cannot use {user_name}: the name is unknown")


def zone(time_zone: str) -> ZoneInfo:
    """The ``ZoneInfo`` for an IANA zone name; ``ValueError`` when it does not exist."""
    try:
        return ZoneInfo(time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {time_zone!r}") from None


def local_time(now: datetime, time_zone: str) -> datetime:
    """``now`` (which must be tz-aware) converted to ``time_zone``."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be a timezone-aware datetime")
    return now.astimezone(zone(time_zone))


def time_greeting(now: datetime, time_zone: str) -> str:
    """The time-of-day greeting by the wall clock in ``time_zone``.

    "Good morning" from 05:00 to 11:59, "Good afternoon" from 12:00 to 16:59, otherwise
    "Good evening". ``ValueError`` for a naive ``now`` or an unknown zone.
    """
    hour = local_time(now, time_zone).hour
    if 5 <= hour < 12:
        return "Good morning"
    if 12 <= hour < 17:
        return "Good afternoon"
    return "Good evening"


def render_greeting(
    template: str, *, agent_name: str, user_name: str | None, now: datetime, time_zone: str
) -> str:
    """Fill in a greeting template.

    ``ValueError`` when the template is invalid, ``agent_name`` is blank, or the template
    uses ``{user_name}`` while no (non-blank) name is known: pick the new-caller template in
    that case (see ``choose_greeting``).
    """
    validate_greeting_template(template, returning=True)
    names = _placeholders(template)
    agent = " ".join(agent_name.split())
    if not agent:
        raise ValueError("agent_name is blank")
    user = " ".join(user_name.split()) if user_name is not None else ""
    if "user_name" in names and not user:
        raise ValueError(
            "the greeting template uses {user_name} but no caller name is known; "
            "use the new-caller template"
        )
    values = {
        "agent_name": agent,
        "user_name": user,
        "time_greeting": time_greeting(now, time_zone),
    }
    return " ".join(template.format_map(values).split())


def choose_greeting(
    *,
    new_caller_template: str,
    returning_template: str,
    user_name: str | None,
    agent_name: str,
    now: datetime,
    time_zone: str,
) -> str:
    """The rendered greeting: the returning-caller template when a non-blank name is known,
    the new-caller template otherwise."""
    validate_greeting_template(new_caller_template, returning=False)
    validate_greeting_template(returning_template, returning=True)
    known = user_name is not None and bool(user_name.strip())
    template = returning_template if known else new_caller_template
    return render_greeting(
        template, agent_name=agent_name, user_name=user_name, now=now, time_zone=time_zone
    )
