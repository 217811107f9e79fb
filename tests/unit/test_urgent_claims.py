"""Urgent claims after hours: the tool is offered only while the office is closed and the agency
lists urgent conditions; the instructions say what is urgent and what happens."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from engine.business_hours import Closed
from engine.config import TenantConfig
from engine.tools import REPORT_URGENT_CLAIM, ToolArgumentError, parse_arguments, tool_specs
from engine.urgent_claims import DEFAULT_CONDITIONS, UrgentClaims
from prompts.after_hours import urgent_rule

OPEN = TenantConfig(tenant_id="t", name="Agency")
CLOSED = replace(OPEN, closed=Closed("", datetime(2026, 12, 7, 9, tzinfo=UTC)))


def test_offered_only_while_closed_with_conditions() -> None:
    assert REPORT_URGENT_CLAIM not in tool_specs(OPEN)
    spec = tool_specs(CLOSED)[REPORT_URGENT_CLAIM]
    assert spec.parameters["properties"]["condition"]["enum"] == list(DEFAULT_CONDITIONS)
    nothing = replace(CLOSED, urgent=UrgentClaims((), "+15550001111"))
    assert REPORT_URGENT_CLAIM not in tool_specs(nothing)


def test_only_the_agencys_conditions_are_accepted() -> None:
    spec = tool_specs(CLOSED)[REPORT_URGENT_CLAIM]
    ok = parse_arguments(spec, '{"condition": "someone was injured", "details": "crash"}')
    assert ok["condition"] == "someone was injured"
    with pytest.raises(ToolArgumentError, match="condition"):
        parse_arguments(spec, '{"condition": "a scratch", "details": "x"}')


def test_the_rule_names_the_conditions_and_the_outcome() -> None:
    on_call = urgent_rule(("someone was injured", "a fire"), on_call=True)
    assert "someone was injured; or a fire" in on_call
    assert "puts the caller through" in on_call
    assert "call back" in urgent_rule(("a fire",), on_call=False)


def test_stored_form_round_trips_and_empty_is_the_defaults() -> None:
    urgent = UrgentClaims(("a fire",), "+15550001111")
    assert UrgentClaims.from_json(urgent.to_json()) == urgent
    assert UrgentClaims.from_json({}) == UrgentClaims()
    assert UrgentClaims.from_json({"conditions": []}).conditions == ()
