"""Request and response bodies of /callers: profiles, memories, summaries, personality."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, Field, StringConstraints, field_validator

from admin_api.schemas.common import PublicModel, RequestModel, clean_json, clean_text

MemoryText = Annotated[
    str,
    StringConstraints(min_length=1, max_length=4000, strip_whitespace=True),
    AfterValidator(clean_text),
]


class CallerListItem(PublicModel):
    caller_number: str
    preferred_name: str | None
    total_calls: int
    first_call_at: datetime | None
    last_call_at: datetime | None


class PersonalityPublic(PublicModel):
    calls: int
    averages: dict[str, float]
    recent: dict[str, float]
    trend: dict[str, float]
    updated_at: datetime


class CallerSummaryPublic(PublicModel):
    call_sid: str
    call_at: datetime
    summary: str
    key_topics: list[str]
    sentiment: str | None
    resolution_status: str | None
    duration_ms: int | None


class CallerPublic(PublicModel):
    caller_number: str
    preferred_name: str | None
    total_calls: int
    first_call_at: datetime | None
    last_call_at: datetime | None
    preferences: dict[str, Any]
    calls: int
    memories: int
    personality: PersonalityPublic | None
    summaries: list[CallerSummaryPublic]


class MemoryPublic(PublicModel):
    memory_id: str
    type: str
    key: str
    value: dict[str, Any] | str
    content: str
    version: int
    source_call_sid: str | None
    expires_at: datetime | None
    updated_at: datetime


class MemoryUpdate(RequestModel):
    """A corrected memory: its value (an object or a string) and the sentence the agent
    reads. The old value stays in the memory's history."""

    value: dict[str, Any] | str = Field(description="JSON object or string, up to 16 KB.")
    content: MemoryText
    keep_forever: bool = Field(False, description="Clear the memory's expiry.")

    @field_validator("value")
    @classmethod
    def _value(cls, value: dict[str, Any] | str) -> dict[str, Any] | str:
        return clean_json(value)  # type: ignore[no-any-return]


class ForgetResult(PublicModel):
    recordings_deleted: int
