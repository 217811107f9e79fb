"""Frozen records of the caller-memory layer (never asyncpg Records). Pure, no I/O.

Phone numbers and remembered values are personal data: they stay out of ``repr`` so a logged
record never carries them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

# Memory types the engine writes itself; `remember` accepts any lower-case word of up to 32
# letters (the schema's CHECK) so tools can add their own.
MEMORY_TYPES = frozenset(
    {
        "identity",
        "person",
        "fact",
        "preference",
        "commitment",
        "vehicle",
        "policy",
        "claim",
        "property",
        "note",
        "task",
        "rule",
        "moment",
    }
)
KNOWLEDGE_KINDS = frozenset({"fact", "rule", "procedure", "faq"})
JobState = Literal["pending", "running", "done", "failed"]
SearchSource = Literal["memory", "summary", "knowledge"]
JsonValue = dict[str, object] | str
JsonInput = Mapping[str, object] | str  # what callers may pass; stored as JsonValue


def json_value(stored: object) -> JsonValue:
    """A stored memory value as a JsonValue: an object or string as it is, any other JSON value
    (list, number, bool) as its JSON text."""
    return stored if isinstance(stored, dict | str) else json.dumps(stored)


@dataclass(frozen=True, slots=True)
class NewMemory:
    """One memory to keep about a caller under (type, key), as the `remember` tool asks; a call's
    memory (`call_sid`) is kept only while the tenant keeps transcripts."""

    caller_number: str
    call_sid: str | None
    memory_type: str
    key: str
    value: JsonInput
    ttl_days: int | None = None


@dataclass(frozen=True, slots=True)
class MemoryWrite:
    """One memory to upsert under its stable ``(type, key)``; ``content`` is its text."""

    type: str
    key: str
    value: JsonValue = field(repr=False)
    content: str = field(repr=False)
    ttl_days: int | None = None


@dataclass(frozen=True, slots=True)
class StoredMemory:
    memory_id: str
    type: str
    key: str
    value: JsonValue = field(repr=False)
    content: str = field(repr=False)
    version: int
    source_call_sid: str | None
    expires_at: datetime | None
    updated_at: datetime
    has_embedding: bool


@dataclass(frozen=True, slots=True)
class MemoryVersion:
    """An earlier value of a memory, replaced at ``replaced_at``."""

    version: int
    value: JsonValue = field(repr=False)
    content: str = field(repr=False)
    source_call_sid: str | None
    valid_from: datetime
    replaced_at: datetime


@dataclass(frozen=True, slots=True)
class SearchHit:
    """One semantic search result; ``score`` is cosine similarity (1 is identical)."""

    source: SearchSource
    ref: str
    text: str = field(repr=False)
    score: float
    at: datetime | None
    caller_number: str | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class KnowledgeEntry:
    entry_id: str
    kind: str
    title: str
    body: str
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class JobClaim:
    """A post-call job claimed by one worker until ``lease_id`` expires."""

    tenant_id: str
    call_sid: str
    attempts: int
    lease_id: str


@dataclass(frozen=True, slots=True)
class JobStatus:
    call_sid: str
    status: JobState
    attempts: int
    last_error: str | None
    items_stored: int | None
    run_after: datetime
    finished_at: datetime | None


@dataclass(frozen=True, slots=True)
class CallFacts:
    """What the post-call job needs to know about the call itself."""

    call_sid: str
    started_at: datetime
    duration_ms: int | None
    ended: bool = True


@dataclass(frozen=True, slots=True)
class PersonalityRollup:
    """Per-caller personality: all-call averages, recent state scores, trend per call."""

    calls: int
    averages: dict[str, float]
    recent: dict[str, float]
    trend: dict[str, float]


# What Twilio sends as `From` when the caller hides or has no number. All such callers would
# share one "caller"; the memory layer neither reads nor writes caller memory for them.
ANONYMOUS_NUMBERS = frozenset(
    {
        "+266696687",
        "+86282452253",
        "+7378742833",
        "+2562533",
        "anonymous",
        "restricted",
        "unknown",
        "blocked",
        "private",
        "unavailable",
    }
)


def is_anonymous(caller_number: str) -> bool:
    return caller_number.strip().lower() in ANONYMOUS_NUMBERS
