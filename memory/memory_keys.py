"""Extracted items (memory.extracted) as caller memories under stable keys. Pure.

The same fact said twice must land on the same row, so keys come from what identifies a thing,
never from how it was phrased: a spouse is `spouse` whatever their name, a vehicle is its VIN
or year-make-model, a claim its number, a fact its description's slug.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from memory.caller_records import MemoryWrite
from memory.extracted import Extracted, Person, Vehicle, item_json

COMMITMENT_TTL_DAYS = 180
_MAX_CONTENT = 2000

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
        put("person", person_key(p), item_json(p), f"{p.name}, their {p.relationship or 'contact'}")
    for f in items.facts:
        key = slug(f.description) or slug(f.value)
        text = (
            f"{f.description}: {f.value}" if f.description and f.value else f.description or f.value
        )
        put("fact", key, item_json(f), text)
    for pref in items.preferences:
        put("preference", slug(pref.category) or "general", item_json(pref), pref.preference)
    for c in items.commitments:
        due = f" (by {c.deadline})" if c.deadline else ""
        who = "we promised" if c.owner == "agency" else "they promised"
        put(
            "commitment",
            slug(c.description),
            item_json(c),
            f"{who}: {c.description}{due}",
            COMMITMENT_TTL_DAYS,
        )
    for v in items.vehicles:
        text = _joined(str(v.year) if v.year else None, v.make, v.model)
        if v.vin:
            text = _joined(text, f"(VIN {v.vin})")
        put("vehicle", vehicle_key(v), item_json(v), _joined(text, v.notes and f"- {v.notes}"))
    for pol in items.policies:
        key = f"number:{slug(pol.policy_number)}" if pol.policy_number else f"line:{slug(pol.line)}"
        text = _joined(
            f"{pol.line} policy",
            pol.policy_number,
            pol.carrier and f"with {pol.carrier}",
            pol.status and f"({pol.status})",
        )
        put("policy", key, item_json(pol), text)
    for cl in items.claims:
        key = f"number:{slug(cl.claim_number)}" if cl.claim_number else slug(cl.description, 60)
        text = _joined(
            f"claim {cl.claim_number}:" if cl.claim_number else "claim:",
            cl.description,
            cl.date and f"on {cl.date}",
            cl.status and f"({cl.status})",
        )
        put("claim", key, item_json(cl), text)
    for pr in items.properties:
        key = slug(pr.address) if pr.address else slug(pr.kind)
        put(
            "property",
            key,
            item_json(pr),
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
