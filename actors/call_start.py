"""A call as it starts: the tenant as this call sees it (engine.after_hours: a call taken
while the office is closed has no transfer), and the state machine's first state with the
tenant's rules and how the call's recording begins (engine.recording_consent). Pure: the clock
is passed in.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from actors.ports import CallSetup
from engine.after_hours import for_call
from engine.call_control import CallRules
from engine.call_state import CallState, new_call
from engine.recording_consent import initial_recording


def first_state(setup: CallSetup, now: datetime) -> tuple[CallSetup, CallState]:
    """The call's setup as it is served (whether the office is open is decided here, once for
    the call) and the state its state machine starts in."""
    tenant = for_call(setup.tenant, now)
    recording = initial_recording(
        record_calls=tenant.record_calls,
        rule=tenant.recording_notice,
        caller_number=setup.from_number,
        jurisdiction=tenant.jurisdiction,
        attempt=setup.attempt,
    )
    rules = CallRules.of(tenant)
    if setup.attempt > 0:  # a resumed call disclosed in its first greeting
        rules = replace(rules, disclosure="")
    state = new_call(setup.call_sid, setup.media_token, rules, recording=recording)
    return replace(setup, tenant=tenant), state
