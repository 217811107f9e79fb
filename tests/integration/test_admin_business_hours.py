"""Office hours in the admin API: weekly hours, closures and the after-hours greeting are
validated, stored, shown, reach the tenant's snapshot (a reload) and decide a call's after-hours
behaviour; bad input is refused with a clear error and changes nothing."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from engine.after_hours import for_call
from memory import tenants
from tests.integration.admin_harness import AdminHarness, new_number

HOURS: dict[str, Any] = {
    "monday": [{"open": "09:00", "close": "12:00"}, {"open": "13:00", "close": "17:00"}],
    "friday": [{"open": "09:00", "close": "15:00"}],
    "closures": [
        {"date": "2026-12-25", "reason": "Christmas Day"},
        {"date": "2026-12-24", "reason": "Christmas Eve"},
    ],
    "after_hours_greeting": "Thanks for calling {agent_name}'s line. We're closed right now.",
}


async def test_office_hours_are_stored_shown_and_used(h: AdminHarness) -> None:
    created = await h.post(
        "/tenants",
        h.platform_token,
        {
            "name": "Lakeside Insurance",
            "phone_numbers": [new_number()],
            "time_zone": "America/Denver",
            "business_hours": HOURS,
        },
    )
    assert created.status_code == 201, created.text
    tenant_id = created.json()["tenant_id"]
    shown = created.json()["business_hours"]
    assert [c["date"] for c in shown["closures"]] == ["2026-12-24", "2026-12-25"]  # in order
    assert shown["after_hours_greeting"] == HOURS["after_hours_greeting"]
    assert shown["monday"] == HOURS["monday"]
    fetched = (await h.get(f"/tenants/{tenant_id}", h.platform_token)).json()
    assert fetched["business_hours"] == shown

    config = await tenants.load_config(h.pool, tenant_id)
    assert config is not None
    assert config.hours.configured
    # Christmas Day, 10:00 in Denver (UTC-7): closed for the holiday.
    holiday = for_call(config, datetime(2026, 12, 25, 17, 0, tzinfo=UTC))
    assert holiday.closed is not None
    assert holiday.closed.reason == "Christmas Day"
    # Monday 10:00 in Denver: open.
    assert for_call(config, datetime(2026, 12, 28, 17, 0, tzinfo=UTC)).closed is None

    h.gateway.reloads.clear()
    cleared = await h.patch(f"/tenants/{tenant_id}", h.platform_token, {"business_hours": {}})
    assert cleared.status_code == 200, cleared.text
    assert cleared.json()["business_hours"] == {}
    assert h.gateway.reloads == [tenant_id]
    config = await tenants.load_config(h.pool, tenant_id)
    assert config is not None
    assert not config.hours.configured  # no hours: always open
    assert for_call(config, datetime(2026, 12, 25, 17, 0, tzinfo=UTC)).closed is None


@pytest.mark.parametrize(
    ("hours", "says"),
    [
        ({"monday": [{"open": "17:00", "close": "09:00"}]}, "open must be before close"),
        ({"monday": [{"open": "9:00", "close": "17:00"}]}, "monday"),
        ({"monday": [{"open": "09:00", "close": "24:00"}]}, "monday"),
        (
            {"monday": [{"open": "09:00", "close": "13:00"}, {"open": "12:00", "close": "17:00"}]},
            "opening hours overlap",
        ),
        ({"funday": [{"open": "09:00", "close": "17:00"}]}, "funday"),
        ({"closures": [{"date": "2026-02-30"}]}, "closures"),
        ({"closures": [{"date": "2026-12-25"}, {"date": "2026-12-25"}]}, "one entry per date"),
        ({"closures": [{"date": "2026-12-25", "reason": "x" * 121}]}, "closures"),
        ({"closures": [{"date": "2026-12-25", "reason": "a\nb"}]}, "closures"),
        ({"closures": [{"date": f"2027-01-{d:02d}"} for d in range(1, 32)] * 4}, "closures"),
        ({"after_hours_greeting": "Hello {caller}"}, "unknown placeholder"),
        ({"after_hours_greeting": "Hi {user_name}"}, "user_name"),
        ({"after_hours_greeting": "x" * 301}, "longer than 300"),
    ],
)
async def test_bad_office_hours_are_refused_and_change_nothing(
    h: AdminHarness, hours: dict[str, Any], says: str
) -> None:
    tenant = await h.tenant()
    before = (await h.get(f"/tenants/{tenant.tenant_id}", h.platform_token)).json()
    answer = await h.patch(
        f"/tenants/{tenant.tenant_id}", h.platform_token, {"business_hours": hours}
    )
    assert answer.status_code == 422, answer.text
    assert says in answer.text
    after = (await h.get(f"/tenants/{tenant.tenant_id}", h.platform_token)).json()
    assert after["business_hours"] == before["business_hours"]
    made = await h.post(
        "/tenants",
        h.platform_token,
        {"name": "Refused", "phone_numbers": [new_number()], "business_hours": hours},
    )
    assert made.status_code == 422, made.text
