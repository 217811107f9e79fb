"""Agent-settings merging and validation, request-model bounds, rate-limit keys and cursors:
the admin API's pure parts."""

from __future__ import annotations

import typing
from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from admin_api import agent_rules
from admin_api.ratelimit import Limit, SharedLimits
from admin_api.schemas.agent import AgentConfigUpdate, PresetApply, Voice
from admin_api.schemas.auth import LoginRequest
from admin_api.schemas.callers import MemoryUpdate
from admin_api.schemas.tenants import TenantCreate, TenantUpdate
from engine.config import REALTIME_VOICES
from memory.admin_db import BadCursor, decode_cursor, encode_cursor
from memory.agent_settings import AgentSettings
from prompts.persona import PRESETS, SLIDER_KEYS

CURRENT = AgentSettings(
    agent_name="Ava",
    voice="marin",
    greeting_new="{time_greeting}! This is {agent_name}.",
    greeting_returning="Hi, this is {agent_name}. Is this {user_name}?",
    vad={},
    sliders={},
    blocks={},
    record_calls=False,
    recording_consent="This call may be recorded.",
    pii_redaction=False,
    retention_days=365,
    transfer_rules=[],
    dtmf_actions={},
    tools=["end_call", "transfer_call", "get_current_time", "take_message"],
    max_call_seconds=1800,
    silence_timeout_s=10,
    fallback_number=None,
    spanish=False,
    keep_transcripts=True,
    recording_notice="always",
    version=1,
    updated_at=datetime(2026, 1, 1, tzinfo=UTC),
)


def _update(**fields: object) -> AgentSettings:
    return agent_rules.apply_update(CURRENT, AgentConfigUpdate.model_validate(fields))


def test_voice_literal_matches_the_engine() -> None:
    assert set(typing.get_args(Voice)) == set(REALTIME_VOICES)


def test_update_merges_sliders_and_blocks_and_replaces_lists() -> None:
    first = _update(sliders={"warmth": 90}, blocks={"system_role": "friendly_advisor"})
    assert first.sliders["warmth"] == 90
    assert len(first.sliders) == len(SLIDER_KEYS)
    second = agent_rules.apply_update(
        first, AgentConfigUpdate.model_validate({"sliders": {"humor": 10}})
    )
    assert (second.sliders["warmth"], second.sliders["humor"]) == (90, 10)
    assert second.blocks == {"system_role": "friendly_advisor"}
    rules = _update(
        transfer_rules=[{"keyword": "claims", "number": "+15550001234"}],
        dtmf_actions={"1": {"action": "transfer", "target": "claims"}, "0": {"action": "hang_up"}},
    )
    assert rules.transfer_rules == [
        {"keyword": "claims", "number": "+15550001234", "description": "", "mode": "cold"}
    ]
    assert rules.dtmf_actions["0"] == {"action": "hang_up", "target": ""}


def test_fields_left_out_stay_and_null_fallback_clears() -> None:
    with_fallback = _update(fallback_number="+15550009999")
    assert with_fallback.fallback_number == "+15550009999"
    assert with_fallback.agent_name == "Ava"
    cleared = agent_rules.apply_update(
        with_fallback, AgentConfigUpdate.model_validate({"fallback_number": None})
    )
    assert cleared.fallback_number is None


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"greeting_new": "Hello {user_name}!"}, "new-caller greeting cannot use"),
        ({"greeting_returning": "Hi {caller}"}, "unknown placeholder"),
        ({"greeting_new": "Hi {agent_name"}, "unbalanced"),
        ({"sliders": {"charm": 60}}, "unknown persona slider"),
        ({"blocks": {"system_role": "pirate"}}, "unknown preset"),
        ({"blocks": {"system_role": "custom:   "}}, "empty"),
        ({"dtmf_actions": {"1": {"action": "transfer", "target": "sales"}}}, "not the keyword"),
        (
            {
                "transfer_rules": [
                    {"keyword": "Claims", "number": "+15550001234"},
                    {"keyword": "claims", "number": "+15550001235"},
                ]
            },
            "unique",
        ),
        ({"tools": ["end_call", "end_call"]}, "at most once"),
        ({"agent_name": None}, "cannot be null"),
        ({"agent_name": "   "}, "blank"),
    ],
)
def test_whole_settings_rules(fields: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _update(**fields)


@pytest.mark.parametrize(
    "fields",
    [
        {"sliders": {"warmth": 101}},
        {"sliders": {"warmth": -1}},
        {"sliders": {"warmth": "50"}},  # strings are not numbers
        {"sliders": {"warmth": 50.5}},
        {"sliders": {"warmth": True}},
        {"voice": "robot"},
        {"vad": {"type": "server_vad", "threshold": 2}},
        {"vad": {"silence_duration_ms": 50}},
        {"vad": {"noise_reduction": "loud"}},
        {"vad": {"min_interrupt_ms": -1}},
        {"vad": {"min_interrupt_ms": 5000}},
        {"vad": {"eagerness": "eager"}},
        {"max_call_seconds": 10},
        {"silence_timeout_s": 1000},
        {"retention_days": 0},
        {"record_calls": "yes"},
        {"spanish": "sometimes"},
        {"fallback_number": "555-1234"},
        {"transfer_rules": [{"keyword": "x", "number": "+0123"}]},
        {"dtmf_actions": {"12": {"action": "hang_up"}}},
        {"tools": ["launch_rockets"]},
        {"agent_name": "x" * 61},
        {"greeting_new": "x" * 301},
        {"unknown_field": 1},
    ],
)
def test_request_model_bounds(fields: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        AgentConfigUpdate.model_validate(fields)


def test_presets_set_all_thirty_sliders() -> None:
    for name in PRESETS:
        result = agent_rules.with_preset(CURRENT, PresetApply(preset=name).preset)  # type: ignore[arg-type]
        assert result.sliders == dict(PRESETS[name])
    assert agent_rules.with_preset(CURRENT, "friendly").sliders["warmth"] == 90


def test_public_view_fills_in_defaults() -> None:
    view = agent_rules.public_dict(CURRENT)
    assert view["sliders"] == dict.fromkeys(SLIDER_KEYS, 50)
    assert view["vad"] == {
        "type": "server_vad",
        "threshold": 0.5,
        "prefix_padding_ms": 300,
        "silence_duration_ms": 800,
        "eagerness": "auto",
        "noise_reduction": "off",
        "min_interrupt_ms": 500,
    }


@pytest.mark.parametrize("number", ["+15551234567", "+442071234567", "+8613800138000", "+1234567"])
def test_e164_numbers_accepted(number: str) -> None:
    assert TenantCreate.model_validate({"name": "A", "phone_numbers": [number]})


@pytest.mark.parametrize(
    "number",
    ["15551234567", "+05551234567", "+1 555 123 4567", "+1555123456789012", "+12345", "tel:+1555"],
)
def test_malformed_numbers_refused(number: str) -> None:
    with pytest.raises(ValidationError, match="phone_numbers"):
        TenantCreate.model_validate({"name": "A", "phone_numbers": [number]})


def test_tenant_models() -> None:
    with pytest.raises(ValidationError, match="repeat"):
        TenantCreate.model_validate({"name": "A", "phone_numbers": ["+15551234567"] * 2})
    with pytest.raises(ValidationError, match="unknown time zone"):
        TenantCreate.model_validate({"name": "A", "time_zone": "Mars/Olympus"})
    with pytest.raises(ValidationError, match="open must be before close"):
        TenantCreate.model_validate(
            {"name": "A", "business_hours": {"monday": [{"open": "17:00", "close": "09:00"}]}}
        )
    with pytest.raises(ValidationError):
        TenantCreate.model_validate({"name": "A", "twilio_account_sid": "AC123"})
    with pytest.raises(ValidationError, match="NUL"):
        TenantCreate.model_validate({"name": "bad\x00name"})
    update = TenantUpdate.model_validate({"twilio_auth_token": None})
    assert update.model_fields_set == {"twilio_auth_token"}


def test_login_email_is_normalized_and_checked() -> None:
    assert LoginRequest.model_validate(
        {"email": "  Jane@Agency.Example ", "password": "x"}
    ).email == ("jane@agency.example")
    with pytest.raises(ValidationError):
        LoginRequest.model_validate({"email": "not an email", "password": "x"})


def test_memory_values_are_bounded() -> None:
    assert MemoryUpdate.model_validate({"value": {"name": "Jo"}, "content": "Spouse is Jo"})
    deep: dict[str, object] = {}
    node = deep
    for _ in range(10):
        child: dict[str, object] = {}
        node["x"] = child
        node = child
    with pytest.raises(ValidationError, match="nested deeper"):
        MemoryUpdate.model_validate({"value": deep, "content": "x"})
    with pytest.raises(ValidationError, match="NUL"):
        MemoryUpdate.model_validate({"value": {"a": "b\x00"}, "content": "x"})
    with pytest.raises(ValidationError, match="larger than"):
        MemoryUpdate.model_validate({"value": {"a": "b" * 20_000}, "content": "x"})


def test_limit_keys_are_opaque_and_keep_limits_and_secrets_apart() -> None:
    limits = SharedLimits("one shared secret " * 3)
    by_ip = Limit("login-ip", 30, 60)
    key = limits.key(by_ip, "203.0.113.7")
    assert len(key) == 32
    assert b"203.0.113.7" not in key
    assert key == limits.key(by_ip, "203.0.113.7")
    assert key != limits.key(by_ip, "203.0.113.8")
    assert key != limits.key(Limit("refresh-ip", 30, 60), "203.0.113.7")
    assert key != SharedLimits("another secret " * 3).key(by_ip, "203.0.113.7")


def test_cursors_round_trip_and_refuse_garbage() -> None:
    at = datetime(2026, 5, 1, 12, 30, tzinfo=timezone(timedelta(hours=-4)))
    assert decode_cursor(encode_cursor(at, "CA" + "0" * 32)) == (at, "CA" + "0" * 32)
    assert decode_cursor(encode_cursor(None, "42")) == (None, "42")
    for bad in ["", "!!!", "eyJ0IjoxfQ", "bm90IGpzb24", encode_cursor(None, "x")[:-3] + "AAA"]:
        with pytest.raises(BadCursor):
            decode_cursor(bad)
