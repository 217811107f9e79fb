"""The LLM's answer to an extraction schema (memory.extraction) as frozen dataclasses. Pure.

The answer has already been validated against its schema; parsing trims and bounds every text,
drops blank entries, and falls back to neutral values where a field is unusable.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from memory.extraction import RESOLUTIONS, SENTIMENTS
from prompts.personality import PERSONALITY_TRAITS


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
        return [item_json(v) for v in values]

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


def item_json(obj: Any) -> dict[str, object]:
    """One extracted item as JSON, without its empty fields."""
    return {k: v for k, v in asdict(obj).items() if v is not None}
