"""Recognising an emergency in what the caller says. Pure.

Insurance callers talk about accidents all the time ("a crash last month", "fire damage"), so
only words of harm or danger happening now count: someone hurt, bleeding, unconscious or not
breathing, trapped, something on fire, an ambulance or 911 asked for. When they are heard the
call's state machine (engine.emergency_steps) has the engine itself tell the caller to hang up and
dial 911, whatever the model was saying or would say.

Then, when the agency has an emergency line - a transfer target with the keyword `emergency`,
configured like any other (so a caller or a tool argument can never name another number) - a
caller still on the line is transferred to it once that was heard. While the office is closed
the call has no transfer targets (engine.after_hours), so it is told to dial 911 and nothing
more.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from engine.config import TransferRule

EMERGENCY_KEYWORD = "emergency"
EMERGENCY_REASON = "emergency"  # the closing's reason, and the call's detail

_PATTERNS = (
    # English
    r"\b(?:call(?:ed|ing)?|dial(?:ed|ing)?|need|get)\s+(?:9[ -]?1[ -]?1|nine one one)\b",
    r"^\s*9[ -]?1[ -]?1\b(?!\s*\d)",
    r"\bambulance\b",
    r"\b(?:some(?:one|body)|he|she|they|i|we|my \w+|people|kids?|children)"
    r"(?:'s|'re|'m| is| are| was| were| got| am)?"
    r"\s+(?:badly |seriously |really )?(?:hurt|injured|bleeding|unconscious|trapped|pinned)\b",
    r"\bnot breathing\b|\bcan'?t breathe\b|\bheart attack\b|\bpassed out\b",
    r"\b(?:is|are|'s|caught) on fire\b|\bburning\b",
    # Spanish
    r"\bambulancia\b",
    r"\b(?:herid[oa]s?|sangrando|inconsciente|atrapad[oa]s?|no respira)\b",
    r"\b(?:llamar|llame|llamo|marcar) al? (?:9[ -]?1[ -]?1|nueve uno uno)\b",
)
_EMERGENCY = re.compile("|".join(f"(?:{p})" for p in _PATTERNS), re.IGNORECASE)
_NEGATED = re.compile(
    r"\b(?:no ?one|nobody|no one|nadie)\b[^.?!]{0,20}\b(?:hurt|injured|herid[oa])", re.IGNORECASE
)


def is_emergency(text: str) -> bool:
    """Whether the caller's words say someone is hurt or in danger now."""
    if _NEGATED.search(text) and not re.search(r"ambulanc|9[ -]?1[ -]?1|bleeding|fire", text, re.I):
        return False
    return _EMERGENCY.search(text.replace("’", "'")) is not None


def emergency_rule(rules: Iterable[TransferRule]) -> TransferRule | None:
    """The agency's emergency line among the call's transfer targets, if it has one."""
    return next((r for r in rules if r.keyword.strip().lower() == EMERGENCY_KEYWORD), None)
