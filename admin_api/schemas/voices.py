"""The agent's voice: the realtime model's own, or an ElevenLabs voice with its settings."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

ElevenLabsModel = Literal[
    "eleven_flash_v2_5", "eleven_turbo_v2_5", "eleven_multilingual_v2", "eleven_flash_v2"
]


class VoicePublic(BaseModel):
    voice_id: str
    name: str
    category: str
    labels: dict[str, str]


class VoiceList(BaseModel):
    """The voices the agent may speak with: the realtime model's, and the ElevenLabs account's
    (empty when the platform has no ElevenLabs key)."""

    realtime: list[str]
    elevenlabs: list[VoicePublic]


class AgentVoice(BaseModel):
    """`provider: realtime` speaks with the model's own voice (the agent's `voice` setting);
    `provider: elevenlabs` with `voice_id` from the account's voices. Stability, similarity
    and speed are ElevenLabs' voice settings."""

    model_config = ConfigDict(extra="forbid")

    provider: Literal["realtime", "elevenlabs"]
    voice_id: str | None = Field(None, min_length=1, max_length=64)
    model_id: ElevenLabsModel = "eleven_flash_v2_5"
    stability: float = Field(0.5, ge=0.0, le=1.0)
    similarity_boost: float = Field(0.75, ge=0.0, le=1.0)
    speed: float = Field(1.0, ge=0.7, le=1.2)
    own_key: bool = False  # read-only: the tenant has its own ElevenLabs key on file


class VoiceKey(BaseModel):
    """The tenant's own ElevenLabs key (write-only: never returned); null goes back to the
    platform's key."""

    model_config = ConfigDict(extra="forbid")

    api_key: str | None = Field(
        ..., min_length=8, max_length=200, pattern=r"^[\x21-\x7e]+$"
    )  # it travels as an HTTP header: visible ASCII only
