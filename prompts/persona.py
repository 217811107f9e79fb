"""Persona sliders: the 30 keys, the presets, validation, and slider -> instruction lines.

Pure functions. The instruction texts live in ``templates/sliders.txt`` (read once, cached);
the preset values are the product's table and live here as data.

A slider is an integer 0..100 with 50 meaning "no instruction". Above 50 the slider's
positive instruction is used with an intensity word (>= 80 "very", >= 65 "quite", otherwise
"moderately"); 30..49 gives a mild opposite and below 30 a strong opposite.

Disclosure: no slider value ever tells the agent to deny being an AI. A low
``selfReference`` only means "rarely talk about yourself"; the always-on rules in
``instructions`` say the agent answers honestly when asked whether it is an AI.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from types import MappingProxyType

from prompts._templates import template_sections

SLIDER_KEYS: tuple[str, ...] = (
    "warmth",
    "formality",
    "humor",
    "directness",
    "empathy",
    "confidence",
    "curiosity",
    "patience",
    "creativity",
    "analytical",
    "storytelling",
    "detail",
    "assertiveness",
    "humility",
    "optimism",
    "sarcasm",
    "formalityShift",
    "inclusive",
    "memory",
    "risk",
    "selfReference",
    "topicFocus",
    "repetition",
    "polish",
    "intensity",
    "caution",
    "jargon",
    "humorSensitivity",
    "consistency",
    "metaAwareness",
)
CORE_SLIDER_KEYS: tuple[str, ...] = SLIDER_KEYS[:16]

SLIDER_MIN = 0
SLIDER_MAX = 100
SLIDER_NEUTRAL = 50

# Values in SLIDER_KEYS order: professional, friendly, assertive, empathetic, flirtatious.
_PRESET_TABLE: tuple[tuple[int, int, int, int, int], ...] = (
    (60, 90, 50, 90, 95),  # warmth
    (80, 40, 60, 50, 15),  # formality
    (20, 70, 30, 50, 85),  # humor
    (70, 60, 90, 50, 45),  # directness
    (65, 85, 50, 95, 90),  # empathy
    (85, 70, 95, 65, 75),  # confidence
    (50, 70, 40, 75, 80),  # curiosity
    (80, 85, 50, 95, 85),  # patience
    (30, 60, 40, 60, 70),  # creativity
    (80, 50, 75, 60, 30),  # analytical
    (30, 70, 40, 75, 75),  # storytelling
    (75, 50, 60, 60, 40),  # detail
    (70, 50, 95, 40, 35),  # assertiveness
    (40, 60, 20, 70, 60),  # humility
    (70, 85, 80, 80, 90),  # optimism
    (10, 40, 30, 20, 45),  # sarcasm
    (60, 50, 50, 60, 40),  # formalityShift
    (85, 80, 70, 95, 80),  # inclusive
    (85, 80, 75, 90, 90),  # memory
    (30, 50, 70, 40, 65),  # risk
    (30, 60, 50, 60, 70),  # selfReference
    (80, 60, 85, 70, 40),  # topicFocus
    (75, 70, 80, 75, 60),  # repetition
    (90, 65, 75, 70, 75),  # polish
    (50, 70, 75, 65, 75),  # intensity
    (70, 60, 50, 70, 30),  # caution
    (60, 30, 50, 25, 20),  # jargon
    (80, 70, 60, 85, 40),  # humorSensitivity
    (85, 75, 80, 80, 70),  # consistency
    (50, 60, 40, 70, 55),  # metaAwareness
)
_TABLE_PRESETS = ("professional", "friendly", "assertive", "empathetic", "flirtatious")

DEFAULT_SLIDERS: Mapping[str, int] = MappingProxyType(dict.fromkeys(SLIDER_KEYS, SLIDER_NEUTRAL))


def _build_presets() -> Mapping[str, Mapping[str, int]]:
    presets: dict[str, Mapping[str, int]] = {}
    for column, name in enumerate(_TABLE_PRESETS):
        values = {key: row[column] for key, row in zip(SLIDER_KEYS, _PRESET_TABLE, strict=True)}
        presets[name] = MappingProxyType(values)
    presets["balanced"] = DEFAULT_SLIDERS
    return MappingProxyType(presets)


PRESETS: Mapping[str, Mapping[str, int]] = _build_presets()


def validate_sliders(values: Mapping[str, object]) -> dict[str, int]:
    """Return all 30 sliders in ``SLIDER_KEYS`` order, missing ones filled with 50.

    Raises ``ValueError`` naming the key for an unknown key, a value that is not an ``int``
    (``bool`` is refused), or a value outside 0..100.
    """
    for key in values:
        if key not in DEFAULT_SLIDERS:
            raise ValueError(f"unknown persona slider {key!r}")
    result: dict[str, int] = {}
    for key in SLIDER_KEYS:
        value = values.get(key, SLIDER_NEUTRAL)
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"persona slider {key!r} must be an integer, got {value!r}")
        if not SLIDER_MIN <= value <= SLIDER_MAX:
            raise ValueError(
                f"persona slider {key!r} must be between {SLIDER_MIN} and {SLIDER_MAX}, got {value}"
            )
        result[key] = value
    return result


def apply_preset(name: str) -> dict[str, int]:
    """Return a fresh copy of the named preset's 30 slider values."""
    preset = PRESETS.get(name)
    if preset is None:
        valid = ", ".join(PRESETS)
        raise ValueError(f"unknown persona preset {name!r}; valid presets: {valid}")
    return dict(preset)


def intensity_word(value: int) -> str:
    """The intensity word for a slider above 50: "very", "quite" or "moderately"."""
    if value >= 80:
        return "very"
    if value >= 65:
        return "quite"
    return "moderately"


def slider_instruction(key: str, value: int) -> str | None:
    """The instruction line for one slider, or ``None`` at exactly 50 (unvalidated value)."""
    if key not in DEFAULT_SLIDERS:
        raise ValueError(f"unknown persona slider {key!r}")
    texts = _slider_texts()
    if value == SLIDER_NEUTRAL:
        return None
    if value > SLIDER_NEUTRAL:
        return texts[f"{key}.positive"].format(intensity=intensity_word(value))
    if value >= 30:
        return texts[f"{key}.mild"]
    return texts[f"{key}.strong"]


def slider_instructions(values: Mapping[str, int]) -> list[str]:
    """One instruction line per slider that is not 50, in ``SLIDER_KEYS`` order.

    ``values`` is validated first (missing keys count as 50).
    """
    lines: list[str] = []
    for key, value in validate_sliders(values).items():
        line = slider_instruction(key, value)
        if line is not None:
            lines.append(line)
    return lines


@functools.cache
def _slider_texts() -> Mapping[str, str]:
    sections = template_sections("sliders.txt")
    expected = {f"{key}.{kind}" for key in SLIDER_KEYS for kind in ("positive", "mild", "strong")}
    if set(sections) != expected:
        missing = sorted(expected - set(sections))
        extra = sorted(set(sections) - expected)
        raise RuntimeError(f"templates/sliders.txt: missing {missing}, unexpected {extra}")
    return {name: " ".join(text.split()) for name, text in sections.items()}
