"""Request and response bodies of /agent: the tenant's agent settings, presets, preview.

Field-level bounds live here (so the OpenAPI document states them); rules that need the whole
configuration (greeting placeholders, slider keys, block presets, DTMF targets naming a
transfer rule) are checked by admin_api.agent_rules on the merged result.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, get_args

from pydantic import AfterValidator, Field, StringConstraints, WithJsonSchema
from pydantic_core import PydanticCustomError

from admin_api.schemas.common import Phone, PublicModel, RequestModel, ShortText
from engine.recording_consent import ConsentRule
from engine.tools import TOOL_NAMES

Voice = Literal[
    "alloy", "ash", "ballad", "coral", "echo", "sage", "shimmer", "verse", "marin", "cedar"
]


def _known_tool(name: str) -> str:
    if name not in TOOL_NAMES:
        raise PydanticCustomError(
            "unknown_tool", "unknown tool; the tools are: {tools}", {"tools": ", ".join(TOOL_NAMES)}
        )
    return name


ToolName = Annotated[
    str,
    AfterValidator(_known_tool),
    WithJsonSchema({"type": "string", "enum": list(TOOL_NAMES)}),
]
BlockName = Literal[
    "system_role",
    "emotional_tone",
    "conversational_style",
    "knowledge_context",
    "safety_boundaries",
]
SliderValue = Annotated[int, Field(ge=0, le=100)]
SliderKey = Annotated[str, StringConstraints(min_length=1, max_length=40, pattern=r"^[A-Za-z]+$")]
Greeting = Annotated[str, StringConstraints(min_length=1, max_length=300)]
BlockChoice = Annotated[str, StringConstraints(min_length=1, max_length=4100)]
Digit = Annotated[str, StringConstraints(pattern=r"^[0-9*#]$")]
Keyword = Annotated[str, StringConstraints(min_length=1, max_length=40, strip_whitespace=True)]


class VadSettings(RequestModel):
    """Turn-taking: the model's turn detection, input noise reduction, and how much caller
    speech over the agent stops it (shorter sounds and backchannels leave it talking)."""

    type: Literal["server_vad", "semantic_vad"] = "server_vad"
    threshold: Annotated[float, Field(ge=0.0, le=1.0)] = 0.5
    prefix_padding_ms: Annotated[int, Field(ge=0, le=2000)] = 300
    silence_duration_ms: Annotated[int, Field(ge=200, le=5000)] = 800
    eagerness: Literal["low", "medium", "high", "auto"] = Field(
        "auto", description="semantic_vad only: how soon the caller's turn is taken as over."
    )
    noise_reduction: Literal["off", "near_field", "far_field"] = Field(
        "off", description="near_field: handsets and headsets; far_field: speakerphones."
    )
    min_interrupt_ms: Annotated[int, Field(ge=0, le=2000)] = Field(
        500, description="Caller speech over the agent before it stops talking (0: at once)."
    )


class TransferRuleModel(RequestModel):
    keyword: Keyword
    number: Phone
    description: Annotated[str, StringConstraints(max_length=200)] = ""
    mode: Literal["cold", "warm"] = Field(
        "cold",
        description="cold: the caller is put straight through; warm: the caller holds while "
        "the person is told who is calling and accepts (else the agent takes a message).",
    )


class DtmfActionModel(RequestModel):
    action: Literal["transfer", "hang_up"]
    target: Annotated[str, StringConstraints(max_length=40)] = Field(
        "", description="For `transfer`: the keyword of a transfer rule."
    )


class AgentConfigUpdate(RequestModel):
    """Fields left out stay as they are. `sliders` and `blocks` are merged key by key into the
    current ones; `transfer_rules`, `dtmf_actions` and `tools` replace the current ones. The
    body GET /agent answers is a valid update (it changes nothing)."""

    agent_name: Annotated[str, StringConstraints(min_length=1, max_length=60)] | None = None
    voice: Voice | None = None
    greeting_new: Greeting | None = Field(
        None, description="Placeholders: {agent_name}, {time_greeting}."
    )
    greeting_returning: Greeting | None = Field(
        None, description="Placeholders: {agent_name}, {user_name}, {time_greeting}."
    )
    vad: VadSettings | None = None
    sliders: Annotated[dict[SliderKey, SliderValue], Field(max_length=30)] | None = None
    blocks: dict[BlockName, BlockChoice] | None = Field(
        None, description="Per block a preset name, or 'custom:<text>'."
    )
    transfer_rules: Annotated[list[TransferRuleModel], Field(max_length=20)] | None = None
    dtmf_actions: dict[Digit, DtmfActionModel] | None = None
    tools: Annotated[list[ToolName], Field(max_length=len(TOOL_NAMES))] | None = None
    max_call_seconds: Annotated[int, Field(ge=60, le=14_400)] | None = None
    silence_timeout_s: Annotated[int, Field(ge=3, le=120)] | None = None
    fallback_number: Phone | None = Field(None, description="null removes it.")
    record_calls: bool | None = None
    recording_consent: ShortText | None = Field(None, description="Spoken before recording starts.")
    pii_redaction: bool | None = Field(
        None,
        description="Card numbers, SSNs, dates of birth, policy and account numbers replaced in "
        "stored transcripts, messages, memories and summaries (on for new tenants).",
    )
    keep_transcripts: bool | None = Field(
        None,
        description="false: no transcripts - none of a call's words are stored (no turn text, "
        "no summary or memory from the call); outcomes and metrics still are.",
    )
    recording_notice: ConsentRule | None = Field(
        None,
        description="Who hears the recording notice before recording starts: every caller, or "
        "callers where every party must consent (the agency's state or the caller's area code).",
    )
    retention_days: Annotated[int, Field(ge=1, le=3650)] | None = None
    spanish: bool | None = Field(
        None,
        description="The greeting offers Spanish and the agent answers in the caller's language.",
    )
    version: Annotated[int, Field(ge=1)] | None = Field(
        None,
        description="The version this change was made on (from GET); when given and the "
        "agent has changed since, the change is refused with 409 instead of overwriting.",
    )
    updated_at: Annotated[str, StringConstraints(max_length=64)] | None = Field(
        None, description="Read-only; accepted and ignored, so a GET body can be sent back."
    )


class PreviewDraft(RequestModel):
    """Unsaved changes to preview (merged into the saved settings)."""

    sliders: Annotated[dict[SliderKey, SliderValue], Field(max_length=30)] | None = None


class PresetApply(RequestModel):
    preset: Literal[
        "professional", "friendly", "assertive", "empathetic", "flirtatious", "balanced"
    ]


class AgentConfigPublic(PublicModel):
    agent_name: str
    voice: Voice
    greeting_new: str
    greeting_returning: str
    vad: dict[str, Any]
    sliders: dict[str, int]
    blocks: dict[str, str]
    transfer_rules: list[dict[str, str]]
    dtmf_actions: dict[str, dict[str, str]]
    tools: list[str]
    max_call_seconds: int
    silence_timeout_s: int
    fallback_number: str | None
    record_calls: bool
    recording_consent: str
    pii_redaction: bool
    keep_transcripts: bool
    recording_notice: str
    retention_days: int
    spanish: bool
    version: int
    updated_at: datetime


class PresetsPublic(PublicModel):
    voices: list[str]
    slider_keys: list[str]
    slider_presets: dict[str, dict[str, int]]
    block_presets: dict[str, dict[str, str]]
    greeting_placeholders: list[str]
    tools: list[str]
    update_schema: dict[str, Any] = Field(
        description="The JSON Schema of PATCH /agent's body: every setting, its bounds and "
        "description (the console builds its settings form from it)."
    )
    clearable: list[str] = Field(
        description="Settings that may be null (sent as null to remove them)."
    )


def clearable_settings() -> list[str]:
    """The settings GET /agent may answer as null."""
    return [
        name
        for name, field in AgentConfigPublic.model_fields.items()
        if type(None) in get_args(field.annotation)
    ]


class PreviewPublic(PublicModel):
    instructions: str
    greeting: str
    voice: str
    tools: list[str]
    version: int
