"""Request and response bodies of /tenants (platform admins). The Twilio auth token is
write-only: accepted in Create/Update, reported only as `twilio_auth_token_set`."""

from __future__ import annotations

from datetime import date as CalendarDate
from datetime import datetime
from itertools import pairwise
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints, field_validator, model_validator

from admin_api.schemas.common import Name, Phone, PublicModel, RequestModel
from engine.business_hours import WEEKDAYS
from prompts.greeting import validate_greeting_template, zone

TimeZone = Annotated[
    str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z][A-Za-z0-9_+\-/]*$")
]
AccountSid = Annotated[str, StringConstraints(pattern=r"^AC[0-9a-f]{32}$")]
AuthToken = Annotated[str, StringConstraints(min_length=16, max_length=128, pattern=r"^[!-~]+$")]
ClockTime = Annotated[str, StringConstraints(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")]
Numbers = Annotated[list[Phone], Field(max_length=50)]
TenantStatusName = Literal["active", "suspended"]


def check_zone(value: str) -> str:
    zone(value)  # ValueError names the zone
    return value


class OpenHours(RequestModel):
    open: ClockTime
    close: ClockTime

    @model_validator(mode="after")
    def _ordered(self) -> OpenHours:
        if self.open >= self.close:
            raise ValueError("open must be before close (HH:MM, 24-hour clock)")
        return self


Day = Annotated[list[OpenHours], Field(max_length=4)]


class Closure(RequestModel):
    """A day the office is shut (a holiday, a staff day), in the tenant's time zone."""

    date: Annotated[CalendarDate, Field(strict=False)]  # "YYYY-MM-DD"
    reason: Annotated[str, StringConstraints(max_length=120, pattern=r"^[^\x00-\x1f]*$")] = ""


class BusinessHours(RequestModel):
    """Opening hours per weekday in the tenant's time zone, closures, and the greeting of a
    call taken while the office is closed. With no weekday set the office counts as always
    open; with any set, a missing day is closed (engine.business_hours)."""

    monday: Day = Field(default_factory=list)
    tuesday: Day = Field(default_factory=list)
    wednesday: Day = Field(default_factory=list)
    thursday: Day = Field(default_factory=list)
    friday: Day = Field(default_factory=list)
    saturday: Day = Field(default_factory=list)
    sunday: Day = Field(default_factory=list)
    closures: Annotated[list[Closure], Field(max_length=100)] = Field(default_factory=list)
    after_hours_greeting: str = ""

    @field_validator("closures")
    @classmethod
    def _one_per_day(cls, value: list[Closure]) -> list[Closure]:
        days = [c.date for c in value]
        if len(set(days)) != len(days):
            raise ValueError("closures: one entry per date")
        return sorted(value, key=lambda c: c.date)

    @field_validator("after_hours_greeting")
    @classmethod
    def _greeting(cls, value: str) -> str:
        if value:
            validate_greeting_template(value, returning=False)
        return value

    @model_validator(mode="after")
    def _spans_apart(self) -> BusinessHours:
        for day in WEEKDAYS:
            spans = sorted(getattr(self, day), key=lambda s: s.open)
            if any(a.close > b.open for a, b in pairwise(spans)):
                raise ValueError(f"{day}: opening hours overlap")
        return self


def _unique(numbers: list[str]) -> list[str]:
    if len(set(numbers)) != len(numbers):
        raise ValueError("phone numbers must not repeat")
    return numbers


class TenantCreate(RequestModel):
    name: Name
    phone_numbers: Numbers = Field(default_factory=list)
    time_zone: TimeZone = "America/New_York"
    max_concurrent_calls: Annotated[int, Field(ge=1, le=10_000)] = 10
    business_hours: BusinessHours = Field(default_factory=BusinessHours)
    twilio_account_sid: AccountSid | None = None
    twilio_auth_token: AuthToken | None = None

    @field_validator("time_zone")
    @classmethod
    def _zone(cls, value: str) -> str:
        return check_zone(value)

    @field_validator("phone_numbers")
    @classmethod
    def _numbers(cls, value: list[str]) -> list[str]:
        return _unique(value)


class TenantUpdate(RequestModel):
    """Fields left out stay as they are. `twilio_auth_token: null` removes the token;
    `twilio_account_sid: null` falls back to the platform's account."""

    name: Name | None = None
    phone_numbers: Numbers | None = None
    time_zone: TimeZone | None = None
    max_concurrent_calls: Annotated[int, Field(ge=1, le=10_000)] | None = None
    business_hours: BusinessHours | None = None
    twilio_account_sid: AccountSid | None = None
    twilio_auth_token: AuthToken | None = None

    @field_validator("time_zone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        return check_zone(value) if value is not None else None

    @field_validator("phone_numbers")
    @classmethod
    def _numbers(cls, value: list[str] | None) -> list[str] | None:
        return _unique(value) if value is not None else None


class TenantPublic(PublicModel):
    tenant_id: str
    name: str
    status: TenantStatusName
    time_zone: str
    max_concurrent_calls: int
    business_hours: dict[str, Any]
    phone_numbers: list[str]
    twilio_account_sid: str | None
    twilio_auth_token_set: bool
    created_at: datetime
    updated_at: datetime


class TenantListItem(PublicModel):
    tenant_id: str
    name: str
    status: TenantStatusName
    time_zone: str
    max_concurrent_calls: int
    phone_numbers: list[str]
    created_at: datetime
    updated_at: datetime
