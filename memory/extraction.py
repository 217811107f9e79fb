"""What the LLM is asked to extract, and the transcript it reads. Pure, no I/O.

Two JSON schemas (OpenAI structured outputs, strict): `EXTRACTION_SCHEMA` for consolidating a
slice of a live call (people and relationships, facts, preferences, commitments with
deadlines, and the insurance key variables: vehicles, policies, claims, properties) and
`POST_CALL_SCHEMA`, which adds the summary, key topics, sentiment, resolution and the 13
personality scores. Answers are validated against the schema (memory.llm) and parsed by
memory.extracted; memory.memory_keys turns them into keyed memories.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from memory.call_records import Turn
from memory.call_templates import CallTemplate, template_schema
from prompts.personality import PERSONALITY_TRAITS

SENTIMENTS = ("positive", "neutral", "negative", "mixed")
RESOLUTIONS = ("resolved", "follow_up_needed", "unresolved", "transferred", "no_conversation")
MAX_TRANSCRIPT_CHARS = 60_000

_ROLE_LABEL = {"caller": "Caller", "agent": "Agent", "dtmf": "Keypad", "tool": "Tool"}


def _nullable(kind: str, description: str) -> dict[str, Any]:
    return {"type": [kind, "null"], "description": description}


def _text(description: str) -> dict[str, Any]:
    return {"type": "string", "description": description}


def _object(properties: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }


def _list(item: dict[str, Any], description: str) -> dict[str, Any]:
    return {"type": "array", "items": item, "description": description}


_ITEMS: dict[str, Any] = {
    "preferred_name": _nullable(
        "string", "The name the caller wants to be called, only if they said it"
    ),
    "people": _list(
        _object(
            {
                "name": _text("The person's name as said"),
                "relationship": _text("Their relationship to the caller: wife, son, boss..."),
            }
        ),
        "People in the caller's life who were named",
    ),
    "facts": _list(
        _object(
            {
                "description": _text("What the fact is about, short: 'birthday', 'employer'"),
                "value": _text("The fact itself"),
            }
        ),
        "Durable facts about the caller, including anything they asked us to remember",
    ),
    "preferences": _list(
        _object(
            {
                "category": _text("contact, schedule, language, communication..."),
                "preference": _text("The preference as stated"),
            }
        ),
        "How the caller likes things done",
    ),
    "commitments": _list(
        _object(
            {
                "description": _text("What was promised"),
                "deadline": _nullable("string", "When, as said ('Friday', 'May 3')"),
                "owner": {"type": "string", "enum": ["caller", "agency"]},
            }
        ),
        "Promises made by the caller or the agency, with deadlines",
    ),
    "vehicles": _list(
        _object(
            {
                "year": _nullable("integer", "Model year"),
                "make": _text("Manufacturer"),
                "model": _text("Model"),
                "vin": _nullable("string", "VIN if said"),
                "notes": _nullable("string", "Anything else about it"),
            }
        ),
        "Vehicles the caller owns or drives",
    ),
    "policies": _list(
        _object(
            {
                "policy_number": _nullable("string", "Policy number if said"),
                "line": _text("auto, home, renters, life, umbrella, business..."),
                "carrier": _nullable("string", "Insurance company"),
                "status": _nullable("string", "active, pending, lapsed, quoted..."),
            }
        ),
        "Insurance policies mentioned",
    ),
    "claims": _list(
        _object(
            {
                "claim_number": _nullable("string", "Claim number if said"),
                "description": _text("What happened"),
                "status": _nullable("string", "open, filed, paid, denied..."),
                "date": _nullable("string", "When it happened, as said"),
            }
        ),
        "Insurance claims mentioned",
    ),
    "properties": _list(
        _object(
            {
                "address": _nullable("string", "Address if said"),
                "kind": _text("house, condo, apartment, rental, land..."),
                "notes": _nullable("string", "Anything else about it"),
            }
        ),
        "Properties the caller owns or rents",
    ),
}

EXTRACTION_SCHEMA: dict[str, Any] = _object(dict(_ITEMS))
EXTRACTION_SCHEMA_NAME = "memory_extraction"

POST_CALL_SCHEMA: dict[str, Any] = _object(
    {
        "summary": _text("Two to four sentences: who called, why, and what happened"),
        "key_topics": _list({"type": "string"}, "Up to six short topics"),
        "sentiment": {"type": "string", "enum": list(SENTIMENTS)},
        "resolution_status": {"type": "string", "enum": list(RESOLUTIONS)},
        "key_variables": _object(dict(_ITEMS)),
        "personality": _object(
            {
                trait: {"type": "integer", "description": "0-100, 50 is neutral or unknown"}
                for trait in PERSONALITY_TRAITS
            }
        ),
    }
)
POST_CALL_SCHEMA_NAME = "post_call_analysis"

EXTRACTION_INSTRUCTIONS = (
    "You maintain the memory of an insurance agency's phone assistant. From the transcript, "
    "extract only what the caller (or the agency) actually said about the caller: people and "
    "their relationships, durable facts, preferences, commitments with deadlines, vehicles, "
    "policies, claims and properties. Anything the caller asks to be remembered is a fact. "
    "Do not guess; leave out what was not said. Answer with JSON only."
)
POST_CALL_INSTRUCTIONS = (
    EXTRACTION_INSTRUCTIONS
    + " Also summarise the call, list its key topics, judge the caller's sentiment and whether "
    "their request was resolved, and score the caller's personality and state (0-100, 50 when "
    "the call gives no evidence)."
)
TEMPLATE_INSTRUCTIONS = (
    " Then choose the template option that fits what the call was about (none when no "
    "option does) and fill its fields from what was said; null for anything not said."
)


def post_call_request(templates: Sequence[CallTemplate]) -> tuple[str, dict[str, Any]]:
    """The post-call instructions and schema; with templates, the answer also names the
    template that fits the call and its fields (memory.call_templates)."""
    if not templates:
        return POST_CALL_INSTRUCTIONS, POST_CALL_SCHEMA
    properties = {**POST_CALL_SCHEMA["properties"], "template": template_schema(templates)}
    schema = {**POST_CALL_SCHEMA, "properties": properties, "required": list(properties)}
    return POST_CALL_INSTRUCTIONS + TEMPLATE_INSTRUCTIONS, schema


def transcript(turns: Sequence[Turn], limit: int = MAX_TRANSCRIPT_CHARS) -> str:
    """The turns as 'Caller: ...' lines; over ``limit`` keeps the first third and the end."""
    lines = [
        f"{_ROLE_LABEL[t.role]}: {' '.join(t.text.split())}"
        for t in sorted(turns, key=lambda t: t.seq)
        if t.role in _ROLE_LABEL and t.text.strip()
    ]
    text = "\n".join(lines)
    if len(text) <= limit:
        return text
    head = limit // 3
    return text[:head] + "\n[...]\n" + text[-(limit - head - 7) :]


def turns_digest(turns: Sequence[Turn]) -> str:
    """Identifies a batch of turns: the same turns (in any order) give the same digest."""
    h = hashlib.sha256()
    for t in sorted(turns, key=lambda t: t.seq):
        h.update(f"{t.seq}\x1f{t.role}\x1f{t.text}\x1e".encode())
    return h.hexdigest()
