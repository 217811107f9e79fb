"""Tool specs per tenant and argument validation (engine.tools). Pure: no model, no network.

The schemas are checked against the `openai` SDK's realtime models, the shapes the realtime API
accepts in `session.update`.
"""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from jsonschema import Draft202012Validator
from openai.types.realtime import RealtimeFunctionTool, RealtimeSessionCreateRequest

from engine import realtime_codec as rt
from engine.config import DEFAULT_TOOLS, AgencyTool, TenantConfig, TransferRule, VadConfig
from engine.tools import (
    AGENCY_GRACE_S,
    ToolArgumentError,
    ToolSpec,
    parse_arguments,
    tool_output,
    tool_specs,
    transcript_line,
)

CLAIMS = TransferRule("claims", "+15550100", "our claims team")
FRONT_DESK = TransferRule("front desk", "+15550111")


TENANT = TenantConfig(tenant_id="t1", name="Acme Insurance", transfer_rules=(CLAIMS, FRONT_DESK))


def specs() -> dict[str, ToolSpec]:
    return tool_specs(TENANT)


# --- which tools a tenant's agent has ---------------------------------------------------------


def test_default_tenant_gets_every_tool_in_its_configured_order() -> None:
    assert DEFAULT_TOOLS == (
        "end_call",
        "transfer_call",
        "get_current_time",
        "take_message",
        "remember",
    )
    assert list(specs()) == list(DEFAULT_TOOLS)
    assert {name: spec.name for name, spec in specs().items()} == {n: n for n in DEFAULT_TOOLS}
    assert {name: spec.timeout_s for name, spec in specs().items()} == {
        "end_call": 2.0,
        "transfer_call": 2.0,
        "get_current_time": 1.0,
        "take_message": 5.0,
        "remember": 5.0,
    }


def test_transfer_call_is_left_out_without_transfer_rules() -> None:
    assert list(tool_specs(replace(TENANT, transfer_rules=()))) == [
        "end_call",
        "get_current_time",
        "take_message",
        "remember",
    ]


def test_only_the_tenants_tools_and_unknown_names_are_ignored() -> None:
    chosen = replace(TENANT, tools=("take_message", "send_fax", "end_call"))
    assert list(tool_specs(chosen)) == ["take_message", "end_call"]
    assert tool_specs(replace(TENANT, tools=())) == {}


def test_transfer_call_lists_the_rule_keywords_and_what_they_are_for() -> None:
    spec = specs()["transfer_call"]
    assert spec.parameters == {
        "type": "object",
        "properties": {
            "target": {"type": "string", "enum": ["claims", "front desk"]},
            "reason": {"type": "string", "maxLength": 300},
        },
        "required": ["target"],
        "additionalProperties": False,
    }
    assert spec.description.endswith(
        "Targets: 'claims': our claims team; 'front desk': transfer target."
    )
    only_claims = tool_specs(replace(TENANT, transfer_rules=(CLAIMS,)))["transfer_call"]
    assert only_claims.parameters["properties"]["target"]["enum"] == ["claims"]


def test_every_schema_is_a_closed_valid_json_schema() -> None:
    for spec in specs().values():
        Draft202012Validator.check_schema(spec.parameters)
        assert spec.parameters["type"] == "object"
        assert spec.parameters["additionalProperties"] is False
        assert set(spec.parameters["required"]) <= set(spec.parameters["properties"])
    assert specs()["get_current_time"].parameters["properties"] == {}


@pytest.mark.parametrize("name", DEFAULT_TOOLS)
def test_session_entry_is_a_realtime_function_tool(name: str) -> None:
    spec = specs()[name]
    entry = spec.session_entry()
    tool = RealtimeFunctionTool.model_validate(entry)
    assert tool.model_extra == {}  # no key the API does not know
    assert tool.model_dump(exclude_unset=True) == entry
    assert (tool.type, tool.name, tool.description) == ("function", name, spec.description)
    assert tool.parameters == spec.parameters
    assert json.loads(json.dumps(entry)) == entry  # survives the wire as it is


def test_session_update_with_the_tools_validates_as_a_realtime_session() -> None:
    entries = [spec.session_entry() for spec in specs().values()]
    frame = json.loads(
        rt.session_update(instructions="Be helpful.", voice="marin", vad=VadConfig(), tools=entries)
    )
    session = RealtimeSessionCreateRequest.model_validate(frame["session"])
    assert session.tools is not None
    assert all(isinstance(tool, RealtimeFunctionTool) for tool in session.tools)
    assert [tool.name for tool in session.tools if isinstance(tool, RealtimeFunctionTool)] == list(
        DEFAULT_TOOLS
    )


# --- argument validation -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tool", "raw", "message"),
    [
        ("take_message", '{"reason": "call me"', "arguments are not valid JSON"),
        ("take_message", "[" * 100_000, "arguments are not valid JSON"),
        ("take_message", "[]", "arguments must be a JSON object"),
        ("take_message", '"call me"', "arguments must be a JSON object"),
        ("take_message", "null", "arguments must be a JSON object"),
        ("take_message", "{}", "arguments: 'reason' is a required property"),
        ("take_message", "", "arguments: 'reason' is a required property"),
        ("take_message", '{"reason": 5}', "reason: 5 is not of type 'string'"),
        ("take_message", '{"reason": ""}', "reason: '' should be non-empty"),
        (
            "take_message",
            '{"reason": "call me", "urgent": true}',
            "arguments: Additional properties are not allowed ('urgent' was unexpected)",
        ),
        (
            "take_message",
            '{"reason": "call me", "callback_number": "my cell"}',
            # the pattern as jsonschema quotes it (its repr, backslashes doubled)
            r"callback_number: 'my cell' does not match '^\\+?[0-9 ()\\-.]{7,20}$'",
        ),
        (
            "transfer_call",
            '{"target": "sales"}',
            "target: 'sales' is not one of ['claims', 'front desk']",
        ),
        (
            "transfer_call",
            '{"target": "Claims"}',
            "target: 'Claims' is not one of ['claims', 'front desk']",
        ),
        (
            "transfer_call",
            '{"reason": "wants a human"}',
            "arguments: 'target' is a required property",
        ),
        ("end_call", '{"reason": "' + "x" * 201 + '"}', "reason: '" + "x" * 201 + "' is too long"),
        (
            "get_current_time",
            '{"tz": "UTC"}',
            "arguments: Additional properties are not allowed ('tz' was unexpected)",
        ),
    ],
)
def test_invalid_arguments_raise_with_the_path(tool: str, raw: str, message: str) -> None:
    with pytest.raises(ToolArgumentError) as caught:
        parse_arguments(specs()[tool], raw)
    assert str(caught.value) == message


def test_the_first_error_is_reported_in_a_stable_order() -> None:
    raw = '{"zz": 1, "reason": 7}'
    messages = set()
    for _ in range(5):
        with pytest.raises(ToolArgumentError) as caught:
            parse_arguments(specs()["take_message"], raw)
        messages.add(str(caught.value))
    assert messages == {"reason: 7 is not of type 'string'"}


@pytest.mark.parametrize(
    ("tool", "raw", "expected"),
    [
        ("end_call", "", {}),
        ("end_call", "  \n", {}),
        ("end_call", "{}", {}),
        ("end_call", '{"reason": "caller said bye"}', {"reason": "caller said bye"}),
        ("get_current_time", "{}", {}),
        ("transfer_call", '{"target": "front desk"}', {"target": "front desk"}),
        (
            "take_message",
            '{"reason": "renewal question", "caller_name": "Dana", '
            '"callback_number": "+1 (555) 010-0199", "preferred_time": "after 5"}',
            {
                "reason": "renewal question",
                "caller_name": "Dana",
                "callback_number": "+1 (555) 010-0199",
                "preferred_time": "after 5",
            },
        ),
    ],
)
def test_valid_arguments_come_back_as_a_dict(
    tool: str, raw: str, expected: dict[str, object]
) -> None:
    assert parse_arguments(specs()[tool], raw) == expected


def test_tool_output_is_compact_json_and_stringifies_the_unknown() -> None:
    class Token:
        def __str__(self) -> str:
            return "tok"

    assert tool_output({"ok": True, "n": 1, "x": Token()}) == '{"ok":true,"n":1,"x":"tok"}'


def test_agency_tools_come_after_the_built_in_ones_and_never_take_their_names() -> None:
    def agency(name: str) -> AgencyTool:
        schema = {"type": "object", "properties": {"q": {"type": "string"}}}
        return AgencyTool(name, f"{name}, the agency's", schema, "https://a.example/t", "s" * 16)

    tenant = TenantConfig(
        tenant_id="t",
        name="Agency",
        tools=("end_call", "take_message"),
        agency_tools=(agency("policy_status"), agency("take_message"), agency("verify_caller")),
    )
    specs = tool_specs(tenant)
    assert list(specs) == ["end_call", "take_message", "policy_status"]
    assert specs["take_message"].agency is None
    policy = specs["policy_status"]
    assert policy.agency == tenant.agency_tools[0]
    assert policy.timeout_s == 5.0 + AGENCY_GRACE_S
    assert policy.session_entry()["parameters"] == tenant.agency_tools[0].parameters


def test_a_verify_caller_call_keeps_only_the_names_of_what_was_stated() -> None:
    stated = '{"date_of_birth": "March 4th 1980", "policy_number": "HO-55-1234"}'
    assert transcript_line("verify_caller", stated) == "verify_caller(date_of_birth, policy_number)"
    assert transcript_line("verify_caller", "not json 1980-03-04") == "verify_caller(...)"
    assert transcript_line("verify_caller", '["1980-03-04"]') == "verify_caller(...)"
    assert transcript_line("end_call", '{"reason": "done"}') == 'end_call({"reason": "done"})'
