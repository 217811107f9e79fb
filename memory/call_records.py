"""Frozen records of calls, turns and messages from the data layer (never asyncpg Records)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

TurnRole = Literal["caller", "agent", "dtmf", "tool", "system"]


@dataclass(frozen=True, slots=True)
class Turn:
    seq: int
    role: TurnRole
    text: str
    at: datetime
    meta: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class CallStart:
    call_sid: str
    from_number: str = field(repr=False)
    to_number: str = field(repr=False)
    webhook_ms: float | None = None
    recording: str | None = None  # from_start, or not_started until the notice has played


@dataclass(frozen=True, slots=True)
class CallEnd:
    outcome: str
    detail: str = ""
    duration_ms: int | None = None
    greeting_ms: float | None = None
    transferred_to: str | None = None
    language: str | None = None  # "en" or "es": what the caller spoke (None: not a word)
    recording: str | None = None  # from_start, after_notice, not_started, declined (None: none)
    emergency: bool = False  # the caller was told to dial 911 (engine.emergency): audited
    guardrails: tuple[str, ...] = ()  # answers cut by engine.advice_guard, by kind: audited


@dataclass(frozen=True, slots=True)
class CallRecord:
    tenant_id: str
    call_sid: str
    from_number: str = field(repr=False)
    to_number: str = field(repr=False)
    started_at: datetime
    answered_at: datetime | None
    ended_at: datetime | None
    outcome: str | None
    end_detail: str | None
    twilio_status: str | None
    duration_ms: int | None
    webhook_ms: float | None
    greeting_ms: float | None
    transferred_to: str | None
    streams: int
    language: str | None = None
    recording: str | None = None


@dataclass(frozen=True, slots=True)
class NewMessage:
    call_sid: str
    caller_number: str = field(repr=False)
    reason: str = field(repr=False)
    caller_name: str | None = field(default=None, repr=False)
    preferred_time: str | None = None
    callback_number: str | None = field(default=None, repr=False)
    text_confirmation: bool = False  # the caller agreed to a text confirming it
    urgent: str | None = None  # an urgent claim after hours: its condition (engine.urgent_claims)
