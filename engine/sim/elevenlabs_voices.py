"""The voices the ElevenLabs simulator offers, as `GET /v1/voices` lists them. Pure data."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class SimVoice:
    voice_id: str
    name: str
    category: str = "premade"
    lang: str = "en"
    labels: tuple[tuple[str, str], ...] = ()

    def wire(self) -> dict[str, Any]:
        return {
            "voice_id": self.voice_id,
            "name": self.name,
            "category": self.category,
            "labels": dict(self.labels),
            "description": None,
            "preview_url": None,
            "settings": {"stability": 0.5, "similarity_boost": 0.75, "speed": 1.0},
            "high_quality_base_model_ids": ["eleven_flash_v2_5", "eleven_multilingual_v2"],
        }


DEFAULT_VOICES = (
    SimVoice("21m00Tcm4TlvDq8ikWAM", "Rachel", labels=(("accent", "american"),)),
    SimVoice("EXAVITQu4vr4xnSDxMaL", "Sarah", labels=(("accent", "american"),)),
    SimVoice("pNInz6obpgDQGcFmaJgB", "Adam", labels=(("accent", "american"),)),
    SimVoice("VR6AewLTigWG4xSOukaG", "Valentina", lang="es", labels=(("accent", "latin"),)),
)
