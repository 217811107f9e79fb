"""Office hours: open or closed in the agency's own time zone, closures, the next opening as the
agent says it, and what a call taken while the office is closed may do (no transfer, the
after-hours greeting, a message and when the office opens)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest

from engine.after_hours import for_call
from engine.business_hours import OfficeHours, closed_at, opens_text
from engine.call_control import CallRules
from engine.config import DtmfAction, TenantConfig, TransferRule
from engine.session_prompt import EMPTY_CONTEXT, session_prompt
from engine.tools import tool_specs

WEEKDAYS_9_TO_5 = {
    day: [{"open": "09:00", "close": "12:30"}, {"open": "13:30", "close": "17:00"}]
    for day in ("monday", "tuesday", "wednesday", "thursday", "friday")
}
HOURS = OfficeHours.from_json(
    {
        **WEEKDAYS_9_TO_5,
        "saturday": [{"open": "10:00", "close": "12:00"}],
        "closures": [
            {"date": "2026-12-25", "reason": "Christmas Day"},
            {"date": "2026-12-26"},
        ],
        "after_hours_greeting": "Thanks for calling, this is {agent_name}. We're closed now.",
    }
)
CHICAGO = "America/Chicago"  # UTC-6 in December
TENANT = TenantConfig(
    tenant_id="t1",
    name="Acme Insurance",
    time_zone=CHICAGO,
    hours=HOURS,
    transfer_rules=(TransferRule("claims", "+15550100900", "the claims desk"),),
    dtmf_actions=(
        ("0", DtmfAction("transfer", "claims")),
        ("9", DtmfAction("hang_up")),
    ),
    fallback_number="+15550100999",
)


def chicago(year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    """A Chicago wall-clock time in December (UTC-6), as UTC."""
    return datetime(year, month, day, hour, minute, tzinfo=UTC) + timedelta(hours=6)


@pytest.mark.parametrize(
    ("now", "is_open"),
    [
        (chicago(2026, 12, 7, 9, 0), True),  # Monday at opening
        (chicago(2026, 12, 7, 12, 45), False),  # lunch
        (chicago(2026, 12, 7, 16, 59), True),
        (chicago(2026, 12, 7, 17, 0), False),  # closing time is closed
        (chicago(2026, 12, 12, 11, 0), True),  # Saturday morning
        (chicago(2026, 12, 13, 11, 0), False),  # Sunday
        (chicago(2026, 12, 25, 10, 0), False),  # Friday, but Christmas
        # 23:30 in Chicago is already Tuesday in UTC: the agency's own clock decides.
        (chicago(2026, 12, 7, 23, 30), False),
    ],
)
def test_open_or_closed_by_the_agencys_clock(now: datetime, is_open: bool) -> None:
    assert (closed_at(HOURS, CHICAGO, now) is None) == is_open


def test_no_hours_set_means_always_open() -> None:
    none = OfficeHours.from_json({})
    assert not none.configured
    assert closed_at(none, CHICAGO, chicago(2026, 12, 13, 3)) is None
    # closures alone do not make hours: nothing to open again after them
    only_closures = OfficeHours.from_json({"closures": [{"date": "2026-12-25"}]})
    assert closed_at(only_closures, CHICAGO, chicago(2026, 12, 25, 10)) is None


@pytest.mark.parametrize(
    ("now", "reason", "opens"),
    [
        (chicago(2026, 12, 7, 7, 15), "", "today at 9:00 AM"),
        (chicago(2026, 12, 7, 12, 45), "", "today at 1:30 PM"),
        (chicago(2026, 12, 7, 18, 0), "", "tomorrow at 9:00 AM"),
        (chicago(2026, 12, 12, 12, 30), "", "on Monday, December 14 at 9:00 AM"),
        # Christmas (Friday) and the 26th (Saturday, no reason) are closed: Monday the 28th.
        (chicago(2026, 12, 24, 18, 0), "", "on Monday, December 28 at 9:00 AM"),
        (chicago(2026, 12, 25, 10, 0), "Christmas Day", "on Monday, December 28 at 9:00 AM"),
        (chicago(2026, 12, 26, 10, 0), "closed today", "on Monday, December 28 at 9:00 AM"),
    ],
)
def test_why_closed_and_when_it_opens(now: datetime, reason: str, opens: str) -> None:
    closed = closed_at(HOURS, CHICAGO, now)
    assert closed is not None
    assert closed.reason == reason
    assert opens_text(closed, now) == opens


def test_a_closed_office_takes_messages_and_transfers_nobody() -> None:
    now = chicago(2026, 12, 7, 20, 0)
    call = for_call(TENANT, now)
    assert call.closed is not None
    assert "transfer_call" not in tool_specs(call)
    assert "take_message" in tool_specs(call)
    rules = CallRules.of(call)
    assert rules.rule("claims") is None
    assert dict(rules.dtmf) == {"9": DtmfAction("hang_up")}  # the transferring key is gone
    assert rules.fallback_number == "+15550100999"  # failures still go where the agency said
    prompt = session_prompt(
        call, caller_number="+15550100001", context=EMPTY_CONTEXT, tools=("take_message",), now=now
    )
    assert prompt.greeting == "Thanks for calling, this is Ava. We're closed now."
    assert "The office is closed right now" in prompt.instructions
    assert "opens again tomorrow at 9:00 AM" in prompt.instructions
    assert "do not offer or attempt a transfer" in prompt.instructions


def test_an_open_office_is_the_tenant_as_configured() -> None:
    now = chicago(2026, 12, 7, 10, 0)
    assert for_call(TENANT, now) is TENANT
    assert "transfer_call" in tool_specs(TENANT)
    prompt = session_prompt(
        TENANT, caller_number="+15550100001", context=EMPTY_CONTEXT, tools=(), now=now
    )
    assert "closed" not in prompt.instructions.lower()
    assert "We're closed now" not in prompt.greeting


def test_without_an_after_hours_greeting_the_usual_one_is_used() -> None:
    tenant = replace(TENANT, hours=replace(HOURS, after_hours_greeting=""))
    now = chicago(2026, 12, 25, 10, 0)
    call = for_call(tenant, now)
    prompt = session_prompt(
        call, caller_number="+15550100001", context=EMPTY_CONTEXT, tools=(), now=now
    )
    assert prompt.greeting == "Good morning! This is Ava. How can I help you?"
    assert "(Christmas Day)" in prompt.instructions


def test_stored_hours_round_trip() -> None:
    assert HOURS.configured
    assert HOURS.spans_on(date(2026, 12, 25)) == ()
    assert len(HOURS.spans_on(date(2026, 12, 7))) == 2
    assert HOURS.spans_on(date(2026, 12, 13)) == ()
