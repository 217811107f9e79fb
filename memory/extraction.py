"""What the LLM is asked to extract, and how its answer becomes keyed memories. Pure, no I/O.

Two JSON schemas (OpenAI structured outputs, strict): `EXTRACTION_SCHEMA` for consolidating a
slice of a live call (people and relationships, facts, preferences, commitments with
deadlines, and the insurance key variables: vehicles, policies, claims, properties) and
`POST_CALL_SCHEMA`, which adds the summary, key topics, sentiment, resolution and the 13
personality scores. Answers are validated against the schema before they are parsed here.

Stable keys: the same fact said twice must land on the same row, so keys come from what
identifies a thing, never from how it was phrased: a spouse is `spouse` whatever their name,
a vehicle is its VIN or year-make-model, a claim its number, a fact its description's slug.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from memory.call_records import Turn
from memory.caller_records import MemoryWrite
from prompts.personality import PERSONALITY_TRAITS

SENTIMENTS = ("positive", "neutral", "negative", "mixed")
RESOLUTIONS = ("resolved", "follow_up_needed", "unresolved", "transferred", "no_conversation")
COMMITMENT_TTL_DAYS = 180
MAX_TRANSCRIPT_CHARS = 60_000
_MAX_CONTENT = 2000

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


# --- parsed answers ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Person:
    name: str
    relationship: str


@dataclass(frozen=True, slots=True)
class Fact:
    description: str
    value: str


@dataclass(frozen=True, slots=True)
class Preference:
    category: str
    preference: str


@dataclass(frozen=True, slots=True)
class Commitment:
    description: str
    deadline: str | None
    owner: str


@dataclass(frozen=True, slots=True)
class Vehicle:
    year: int | None
    make: str
    model: str
    vin: str | None
    notes: str | None


@dataclass(frozen=True, slots=True)
class Policy:
    policy_number: str | None
    line: str
    carrier: str | None
    status: str | None


@dataclass(frozen=True, slots=True)
class Claim:
    claim_number: str | None
    description: str
    status: str | None
    date: str | None


@dataclass(frozen=True, slots=True)
class Property:
    address: str | None
    kind: str
    notes: str | None


@dataclass(frozen=True, slots=True)
class Extracted:
    preferred_name: str | None = None
    people: tuple[Person, ...] = ()
    facts: tuple[Fact, ...] = ()
    preferences: tuple[Preference, ...] = ()
    commitments: tuple[Commitment, ...] = ()
    vehicles: tuple[Vehicle, ...] = ()
    policies: tuple[Policy, ...] = ()
    claims: tuple[Claim, ...] = ()
    properties: tuple[Property, ...] = ()


@dataclass(frozen=True, slots=True)
class PostCallAnalysis:
    summary: str
    key_topics: tuple[str, ...]
    sentiment: str
    resolution_status: str
    personality: tuple[tuple[str, float], ...]
    extracted: Extracted

    def key_variables(self) -> dict[str, object]:
        """The extracted items as plain JSON, for the summary row."""
        return extracted_json(self.extracted)


def _clean(value: object, limit: int = 500) -> str:
    return " ".join(str(value).split())[:limit] if value is not None else ""


def _opt(value: object, limit: int = 500) -> str | None:
    text = _clean(value, limit)
    return text or None


def _year(value: object) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and 1900 <= value <= 2100:
        return value
    return None


def parse_extracted(data: Mapping[str, Any]) -> Extracted:
    """Items from a schema-valid answer; blank entries are dropped."""
    return Extracted(
        preferred_name=_opt(data.get("preferred_name"), 200),
        people=tuple(
            Person(_clean(p["name"], 200), _clean(p["relationship"], 100).lower())
            for p in data.get("people", ())
            if _clean(p["name"])
        ),
        facts=tuple(
            Fact(_clean(f["description"], 200), _clean(f["value"]))
            for f in data.get("facts", ())
            if _clean(f["description"]) or _clean(f["value"])
        ),
        preferences=tuple(
            Preference(_clean(p["category"], 100).lower() or "general", _clean(p["preference"]))
            for p in data.get("preferences", ())
            if _clean(p["preference"])
        ),
        commitments=tuple(
            Commitment(_clean(c["description"]), _opt(c["deadline"], 100), _clean(c["owner"], 20))
            for c in data.get("commitments", ())
            if _clean(c["description"])
        ),
        vehicles=tuple(
            Vehicle(
                _year(v["year"]),
                _clean(v["make"], 100),
                _clean(v["model"], 100),
                _opt(v["vin"], 32),
                _opt(v["notes"]),
            )
            for v in data.get("vehicles", ())
            if _clean(v["make"]) or _clean(v["model"]) or _clean(v["vin"])
        ),
        policies=tuple(
            Policy(
                _opt(p["policy_number"], 64),
                _clean(p["line"], 50).lower() or "unknown",
                _opt(p["carrier"], 100),
                _opt(p["status"], 50),
            )
            for p in data.get("policies", ())
        ),
        claims=tuple(
            Claim(
                _opt(c["claim_number"], 64),
                _clean(c["description"]),
                _opt(c["status"], 50),
                _opt(c["date"], 100),
            )
            for c in data.get("claims", ())
            if _clean(c["claim_number"]) or _clean(c["description"])
        ),
        properties=tuple(
            Property(
                _opt(p["address"], 200),
                _clean(p["kind"], 50).lower() or "property",
                _opt(p["notes"]),
            )
            for p in data.get("properties", ())
        ),
    )


def clamp_score(value: object) -> float:
    """A personality score forced into 0..100 (50 when it is not a number)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return 50.0
    return float(min(100.0, max(0.0, float(value))))


def parse_post_call(data: Mapping[str, Any]) -> PostCallAnalysis:
    scores = data.get("personality", {})
    return PostCallAnalysis(
        summary=_clean(data.get("summary", ""), 4000),
        key_topics=tuple(t for t in (_clean(t, 80) for t in data.get("key_topics", ())) if t)[:6],
        sentiment=data["sentiment"] if data.get("sentiment") in SENTIMENTS else "neutral",
        resolution_status=(
            data["resolution_status"]
            if data.get("resolution_status") in RESOLUTIONS
            else "unresolved"
        ),
        personality=tuple((t, clamp_score(scores.get(t))) for t in PERSONALITY_TRAITS),
        extracted=parse_extracted(data.get("key_variables", {})),
    )


def extracted_json(items: Extracted) -> dict[str, object]:
    def rows(values: Iterable[object]) -> list[dict[str, object]]:
        return [_value(v) for v in values]

    out: dict[str, object] = {}
    if items.preferred_name:
        out["preferred_name"] = items.preferred_name
    for name in (
        "people",
        "facts",
        "preferences",
        "commitments",
        "vehicles",
        "policies",
        "claims",
        "properties",
    ):
        values = getattr(items, name)
        if values:
            out[name] = rows(values)
    return out


# --- stable keys and memory rows -----------------------------------------------------------------

_SLUG = re.compile(r"[^a-z0-9]+")
_SPOUSE = frozenset({"wife", "husband", "spouse", "partner", "fiance", "fiancee", "fiancé"})
_UNIQUE_RELATIONS = {
    "mother": "mother",
    "mom": "mother",
    "mum": "mother",
    "father": "father",
    "dad": "father",
}


def slug(text: str, limit: int = 80) -> str:
    """Lower-case words joined by '-': the phrasing-independent part of a key."""
    return _SLUG.sub("-", text.lower()).strip("-")[:limit].strip("-")


def person_key(person: Person) -> str:
    relation = slug(person.relationship)
    if relation in _SPOUSE:
        return "spouse"
    if relation in _UNIQUE_RELATIONS:
        return _UNIQUE_RELATIONS[relation]
    return f"{relation or 'contact'}:{slug(person.name)}"


def vehicle_key(vehicle: Vehicle) -> str:
    if vehicle.vin:
        return f"vin:{slug(vehicle.vin)}"
    return slug(f"{vehicle.year or ''} {vehicle.make} {vehicle.model}")


def _value(obj: Any) -> dict[str, object]:
    return {k: v for k, v in asdict(obj).items() if v is not None}


def _joined(*parts: str | None) -> str:
    return " ".join(p for p in parts if p)


def memory_writes(items: Extracted) -> list[MemoryWrite]:
    """Extracted items as memory rows under stable keys; a key seen twice keeps the last."""
    writes: dict[tuple[str, str], MemoryWrite] = {}

    def put(
        kind: str, key: str, value: dict[str, object], content: str, ttl: int | None = None
    ) -> None:
        if key and content:
            writes[(kind, key)] = MemoryWrite(kind, key[:200], value, content[:_MAX_CONTENT], ttl)

    if items.preferred_name:
        put(
            "identity",
            "preferred_name",
            {"name": items.preferred_name},
            f"prefers to be called {items.preferred_name}",
        )
    for p in items.people:
        put("person", person_key(p), _value(p), f"{p.name}, their {p.relationship or 'contact'}")
    for f in items.facts:
        key = slug(f.description) or slug(f.value)
        text = (
            f"{f.description}: {f.value}" if f.description and f.value else f.description or f.value
        )
        put("fact", key, _value(f), text)
    for pref in items.preferences:
        put("preference", slug(pref.category) or "general", _value(pref), pref.preference)
    for c in items.commitments:
        due = f" (by {c.deadline})" if c.deadline else ""
        who = "we promised" if c.owner == "agency" else "they promised"
        put(
            "commitment",
            slug(c.description),
            _value(c),
            f"{who}: {c.description}{due}",
            COMMITMENT_TTL_DAYS,
        )
    for v in items.vehicles:
        text = _joined(str(v.year) if v.year else None, v.make, v.model)
        if v.vin:
            text = _joined(text, f"(VIN {v.vin})")
        put("vehicle", vehicle_key(v), _value(v), _joined(text, v.notes and f"- {v.notes}"))
    for pol in items.policies:
        key = f"number:{slug(pol.policy_number)}" if pol.policy_number else f"line:{slug(pol.line)}"
        text = _joined(
            f"{pol.line} policy",
            pol.policy_number,
            pol.carrier and f"with {pol.carrier}",
            pol.status and f"({pol.status})",
        )
        put("policy", key, _value(pol), text)
    for cl in items.claims:
        key = f"number:{slug(cl.claim_number)}" if cl.claim_number else slug(cl.description, 60)
        text = _joined(
            f"claim {cl.claim_number}:" if cl.claim_number else "claim:",
            cl.description,
            cl.date and f"on {cl.date}",
            cl.status and f"({cl.status})",
        )
        put("claim", key, _value(cl), text)
    for pr in items.properties:
        key = slug(pr.address) if pr.address else slug(pr.kind)
        put(
            "property",
            key,
            _value(pr),
            _joined(pr.kind, pr.address and f"at {pr.address}", pr.notes and f"- {pr.notes}"),
        )
    return list(writes.values())


def render_value(memory_type: str, value: object) -> str:
    """A caller-supplied memory value as one line of text."""
    if isinstance(value, str):
        return " ".join(value.split())[:_MAX_CONTENT]
    if isinstance(value, Mapping):
        parts = [f"{k}: {' '.join(str(v).split())}" for k, v in value.items() if v is not None]
        return "; ".join(parts)[:_MAX_CONTENT]
    raise TypeError(f"a {memory_type} memory value must be a string or an object")


# --- prompts ------------------------------------------------------------------------------------


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
