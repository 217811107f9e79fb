"""Response bodies of /calls: list items and one call in full."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from admin_api.schemas.common import PublicModel


class CallListItem(PublicModel):
    call_sid: str
    from_number: str
    to_number: str
    started_at: datetime
    ended_at: datetime | None
    outcome: str | None
    duration_ms: int | None
    transferred_to: str | None


class TurnPublic(PublicModel):
    seq: int
    role: str
    text: str
    at: datetime
    meta: dict[str, Any]


class ToolCallPublic(PublicModel):
    seq: int
    name: str
    call_id: str | None
    text: str
    at: datetime


class TimingsPublic(PublicModel):
    webhook_ms: float | None
    greeting_ms: float | None
    answered_after_ms: float | None
    duration_ms: int | None
    agent_latency_ms: list[float]


class SummaryPublic(PublicModel):
    summary: str
    key_topics: list[str]
    key_variables: dict[str, Any]
    sentiment: str | None
    resolution_status: str | None
    template: str | None = Field(
        None, description="The call template that fit the call (/call-templates); null: none."
    )
    template_fields: dict[str, Any] = Field(
        default_factory=dict, description="That template's fields as found; null: not said."
    )


class RecordingPublic(PublicModel):
    recording_sid: str
    status: str
    duration_s: int | None
    channels: int | None
    content_type: str | None
    size_bytes: int | None
    sha256: str | None
    created_at: datetime
    stored_at: datetime | None
    audio_url: str | None


class PlaybackLink(PublicModel):
    url: str
    expires_at: datetime


class CallDetailPublic(PublicModel):
    call_sid: str
    from_number: str
    to_number: str
    started_at: datetime
    answered_at: datetime | None
    ended_at: datetime | None
    outcome: str | None
    end_detail: str | None
    twilio_status: str | None
    transferred_to: str | None
    streams: int
    language: str | None = Field(None, description="What the caller spoke: en or es.")
    recording: str | None = Field(
        None,
        description="The call's recording: from_start, after_notice (started once the notice "
        "had played), not_started or declined (the caller said no; nothing kept); null: none.",
    )
    timings: TimingsPublic
    transcript: list[TurnPublic]
    tool_calls: list[ToolCallPublic]
    summary: SummaryPublic | None
    sentiment: str | None
    personality: dict[str, float]
    recordings: list[RecordingPublic]
