"""A call as it starts (actors/call_start.py): the tenant as the call sees it when the office is
closed, and how its recording begins by the tenant's consent rule and the call's attempt."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from actors.call_start import first_state
from actors.ports import CallSetup
from engine.config import TransferRule
from engine.recording_consent import Recording
from tests.unit.session_fakes import TENANT
from tests.unit.test_business_hours import TENANT as HOURS_TENANT

SETUP = CallSetup("CA1", TENANT, "+12125550100", "+15550100000", "media-token", "memory-token")
SATURDAY_NIGHT = datetime(2026, 12, 6, 5, 0, tzinfo=UTC)  # 23:00 in Chicago
TUESDAY_10AM = datetime(2026, 12, 8, 16, 0, tzinfo=UTC)  # 10:00 in Chicago


def test_a_call_while_the_office_is_closed_transfers_nobody() -> None:
    setup = replace(SETUP, tenant=HOURS_TENANT)
    served, state = first_state(setup, SATURDAY_NIGHT)
    assert served.tenant.closed is not None
    assert served.tenant.transfer_rules == ()
    assert state.rules.transfers == ()
    assert (state.call_sid, state.media_token) == ("CA1", "media-token")


def test_a_call_while_the_office_is_open_is_the_tenant_as_configured() -> None:
    setup = replace(SETUP, tenant=HOURS_TENANT)
    served, state = first_state(setup, TUESDAY_10AM)
    assert served == setup
    assert served.tenant.transfer_rules == (
        TransferRule("claims", "+15550100900", "the claims desk"),
    )
    assert state.rules.transfers == served.tenant.transfer_rules


@pytest.mark.parametrize(
    ("record_calls", "rule", "caller", "attempt", "recording"),
    [
        (False, "always", "+12125550100", 0, "none"),  # the tenant does not record
        (True, "always", "+12125550100", 0, "awaiting_notice"),
        (True, "all_party_states", "+12125550100", 0, "from_start"),  # New York: one-party
        (True, "all_party_states", "+14155550100", 0, "awaiting_notice"),  # California
        (True, "always", "+12125550100", 1, "none"),  # a resumed call leaves it as it was
    ],
)
def test_how_the_recording_begins(
    record_calls: bool, rule: str, caller: str, attempt: int, recording: Recording
) -> None:
    tenant = replace(TENANT, record_calls=record_calls, recording_notice=rule)
    setup = replace(SETUP, tenant=tenant, from_number=caller, attempt=attempt)
    _, state = first_state(setup, TUESDAY_10AM)
    assert state.recording == recording
