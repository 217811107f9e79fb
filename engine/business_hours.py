"""An agency's office hours: weekly opening hours in its time zone, closures (holidays and other
days the office is shut), and what a call taken while the office is closed is like. Pure: the
clock is passed in; time zones come from ``zoneinfo``.

A tenant with no weekly hours at all has not set any: its office counts as always open. With
hours set, a weekday without hours is closed. Whether the office is open is decided once, when
the call starts (engine.after_hours.for_call): a closed office's call has no transfer target
and no key press that transfers (nobody is there to answer), greets with the after-hours
greeting when there is one, and its agent takes a message and says when the office opens.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
# How far ahead the next opening is looked for: past every closure an agency may list.
_LOOKAHEAD_DAYS = 400

Span = tuple[time, time]  # open, close (close after open, same day)


@dataclass(frozen=True, slots=True)
class Closure:
    day: date
    reason: str = ""


@dataclass(frozen=True, slots=True)
class OfficeHours:
    """``weekly`` holds the opening spans of Monday..Sunday (empty: not set, always open)."""

    weekly: tuple[tuple[Span, ...], ...] = ()
    closures: tuple[Closure, ...] = ()
    after_hours_greeting: str = ""

    @property
    def configured(self) -> bool:
        return any(self.weekly)

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> OfficeHours:
        """From the stored form (the admin API's `business_hours`, already validated)."""
        weekly = tuple(
            tuple(
                (time.fromisoformat(span["open"]), time.fromisoformat(span["close"]))
                for span in value.get(day, ())
            )
            for day in WEEKDAYS
        )
        closures = tuple(
            Closure(date.fromisoformat(c["date"]), str(c.get("reason", "")))
            for c in value.get("closures", ())
        )
        return cls(
            weekly=weekly if any(weekly) else (),
            closures=closures,
            after_hours_greeting=str(value.get("after_hours_greeting", "")),
        )

    def spans_on(self, day: date) -> tuple[Span, ...]:
        if not self.configured or any(c.day == day for c in self.closures):
            return ()
        return self.weekly[day.weekday()]


@dataclass(frozen=True, slots=True)
class Closed:
    """The office is closed for this call: why (a closure's reason, or "" after hours), and
    when it opens next in the agency's time zone (None: not within the next year)."""

    reason: str
    opens_at: datetime | None


def closed_at(hours: OfficeHours, time_zone: str, now: datetime) -> Closed | None:
    """None while the office is open (or has no hours set); else why and until when."""
    if not hours.configured:
        return None
    local = now.astimezone(ZoneInfo(time_zone))
    today, clock = local.date(), local.time().replace(tzinfo=None)
    if any(start <= clock < end for start, end in hours.spans_on(today)):
        return None
    reason = next((c.reason or "closed today" for c in hours.closures if c.day == today), "")
    return Closed(reason, _next_opening(hours, local))


def _next_opening(hours: OfficeHours, local: datetime) -> datetime | None:
    clock = local.time().replace(tzinfo=None)
    for ahead in range(_LOOKAHEAD_DAYS):
        day = local.date() + timedelta(days=ahead)
        for start, _end in sorted(hours.spans_on(day)):
            if ahead > 0 or start > clock:
                return datetime.combine(day, start, tzinfo=local.tzinfo)
    return None


def opens_text(closed: Closed, now: datetime) -> str:
    """When the office opens, as the agent says it: "today at 9:00 AM", "tomorrow at 8:30
    AM", "on Monday, January 5 at 9:00 AM"."""
    if closed.opens_at is None:
        return "at a time not yet announced"
    opens = closed.opens_at
    at = f"{opens.strftime('%I').lstrip('0')}:{opens.strftime('%M %p')}"
    days = (opens.date() - now.astimezone(opens.tzinfo).date()).days
    if days == 0:
        return f"today at {at}"
    if days == 1:
        return f"tomorrow at {at}"
    return f"on {opens.strftime('%A, %B')} {opens.day} at {at}"
