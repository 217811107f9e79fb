"""Merging an agent-settings update into the current settings, and checking the result. Pure.

The schema (admin_api.schemas.agent) bounds each field; this module checks what needs the
whole picture, with the prompt package's own validators so the API refuses exactly what the
engine could not use: greeting placeholders (`validate_greeting_template`), slider keys and
ranges (`validate_sliders`), block presets and custom texts (`resolve_blocks`), and DTMF
transfers that must name an existing transfer rule. ValueError messages are shown to admins.
"""

from __future__ import annotations

from dataclasses import asdict, replace

from admin_api.schemas.agent import AgentConfigUpdate
from engine.config import VadConfig
from memory.agent_settings import AgentSettings
from prompts.blocks import resolve_blocks
from prompts.greeting import validate_greeting_template
from prompts.persona import apply_preset, validate_sliders


def check(settings: AgentSettings) -> AgentSettings:
    """The settings unchanged, or ValueError naming the first problem."""
    try:
        validate_greeting_template(settings.greeting_new, returning=False)
    except ValueError as exc:
        raise ValueError(f"greeting_new: {exc}") from None
    try:
        validate_greeting_template(settings.greeting_returning, returning=True)
    except ValueError as exc:
        raise ValueError(f"greeting_returning: {exc}") from None
    validate_sliders(settings.sliders)
    resolve_blocks(settings.blocks)
    keywords = [rule["keyword"].lower() for rule in settings.transfer_rules]
    if len(set(keywords)) != len(keywords):
        raise ValueError("transfer_rules: keywords must be unique")
    for digit, action in settings.dtmf_actions.items():
        if action["action"] == "transfer" and action.get("target", "").lower() not in keywords:
            raise ValueError(
                f"dtmf_actions[{digit!r}]: transfer target {action.get('target', '')!r} is not "
                "the keyword of a transfer rule"
            )
    if len(set(settings.tools)) != len(settings.tools):
        raise ValueError("tools: each tool at most once")
    return settings


class StaleVersion(ValueError):
    """The update was made on a version of the settings that is no longer current."""


def apply_update(current: AgentSettings, update: AgentConfigUpdate) -> AgentSettings:
    """`current` with `update` merged in (see AgentConfigUpdate), checked."""
    given = update.model_fields_set
    if update.version is not None and update.version != current.version:
        raise StaleVersion(
            f"the agent was changed meanwhile (now version {current.version}, this change was "
            f"made on version {update.version}); reload and apply the change again"
        )
    changes: dict[str, object] = {}
    for name in (
        "agent_name",
        "voice",
        "greeting_new",
        "greeting_returning",
        "max_call_seconds",
        "silence_timeout_s",
        "record_calls",
        "recording_consent",
        "pii_redaction",
        "keep_transcripts",
        "recording_notice",
        "retention_days",
        "spanish",
    ):
        if name in given:
            value = getattr(update, name)
            if value is None:
                raise ValueError(f"{name} cannot be null")
            changes[name] = value.strip() if name == "agent_name" else value
    if "agent_name" in changes and not changes["agent_name"]:
        raise ValueError("agent_name is blank")
    if "fallback_number" in given:
        changes["fallback_number"] = update.fallback_number
    if "vad" in given:
        if update.vad is None:
            raise ValueError("vad cannot be null")
        changes["vad"] = update.vad.model_dump()
    if "sliders" in given:
        if update.sliders is None:
            raise ValueError("sliders cannot be null")
        changes["sliders"] = validate_sliders({**current.sliders, **update.sliders})
    if "blocks" in given:
        if update.blocks is None:
            raise ValueError("blocks cannot be null")
        blocks = dict(current.blocks)
        blocks.update((str(name), choice) for name, choice in update.blocks.items())
        changes["blocks"] = blocks
    if "transfer_rules" in given:
        if update.transfer_rules is None:
            raise ValueError("transfer_rules cannot be null")
        changes["transfer_rules"] = [rule.model_dump() for rule in update.transfer_rules]
    if "dtmf_actions" in given:
        if update.dtmf_actions is None:
            raise ValueError("dtmf_actions cannot be null")
        changes["dtmf_actions"] = {k: v.model_dump() for k, v in update.dtmf_actions.items()}
    if "tools" in given:
        if update.tools is None:
            raise ValueError("tools cannot be null")
        changes["tools"] = list(update.tools)
    result = check(replace(current, **changes))  # type: ignore[arg-type]
    # Defaults spelled out (all 30 sliders, every VAD field, as GET shows them) change nothing.
    return current if public_dict(result) == public_dict(current) else result


def with_preset(current: AgentSettings, preset: str) -> AgentSettings:
    return check(replace(current, sliders=apply_preset(preset)))


def public_dict(settings: AgentSettings) -> dict[str, object]:
    """The settings with defaults filled in (sliders missing are 50, VAD fields missing are
    the engine's defaults), for responses."""
    values = asdict(settings)
    values["sliders"] = validate_sliders(settings.sliders)
    values["vad"] = {**asdict(VadConfig()), **settings.vad}
    return values
