"""AI disclosure: does a greeting tell the caller they are talking with an AI, and the line
spoken before it when it does not and disclosure is required. Pure.

Where disclosure is required: the tenant asks for it always, the platform makes it mandatory
for every tenant, or the tenant's jurisdiction has a law that requires telling a consumer they
are talking with an AI (`AI_DISCLOSURE_STATES`)."""

from __future__ import annotations

import re

# US states whose laws require disclosing an AI (or bot) to a consumer it talks with:
# California (BOT Act, Bus. & Prof. Code 17940-17943), Utah (AI Policy Act, 2024),
# Colorado (AI Act, SB 24-205). A platform admin can make disclosure mandatory everywhere.
AI_DISCLOSURE_STATES = frozenset({"CA", "UT", "CO"})
POLICIES = ("always", "jurisdiction")

_DISCLOSES = re.compile(
    r"\b(A\.?I\.?|artificial intelligence|(virtual|automated|digital|AI) "
    r"(assistant|agent|receptionist|system)|(ro)?bot|inteligencia artificial|"
    r"asistente (virtual|automatizad[oa]|digital|de IA))\b",
    re.IGNORECASE,
)


def discloses_ai(text: str) -> bool:
    """True when the text itself tells the caller they are talking with an AI."""
    return bool(_DISCLOSES.search(text))


def disclosure_end(text: str) -> int | None:
    """Where in `text` the words that disclose the AI end; None when it does not."""
    found = _DISCLOSES.search(text)
    return found.end() if found else None


def disclosure_required(*, policy: str, jurisdiction: str | None, platform_mandatory: bool) -> bool:
    if policy not in POLICIES:
        raise ValueError(f"ai_disclosure must be one of {', '.join(POLICIES)}")
    return platform_mandatory or policy == "always" or (jurisdiction or "") in AI_DISCLOSURE_STATES


def disclosure_line(agency_name: str) -> str:
    return f"You're speaking with {agency_name}'s AI assistant, and I'm happy to help."


def with_disclosure(greeting: str, *, agency_name: str, required: bool) -> str:
    """The greeting as spoken: unchanged when it discloses already or nothing requires it,
    else with the disclosure line before it."""
    if not required or discloses_ai(greeting):
        return greeting
    return f"{disclosure_line(agency_name)} {greeting}"
