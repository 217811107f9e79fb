"""Caller personality scores (0-100) in words, for the model's context.

Pure functions, no I/O. Bands per score: below 35 "very <low>", below 45 "<low>", below 55
neutral (left out), below 65 "<high>", otherwise "very <high>".
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from types import MappingProxyType

PERSONALITY_TRAITS: tuple[str, ...] = (
    "openness",
    "conscientiousness",
    "extraversion",
    "agreeableness",
    "neuroticism",
    "formality",
    "directness",
    "detail_orientation",
    "patience",
    "technical_comfort",
    "frustration",
    "satisfaction",
    "urgency",
)

# trait -> (word for a low score, word for a high score); each reads well after "very".
TRAIT_WORDS: Mapping[str, tuple[str, str]] = MappingProxyType(
    {
        "openness": ("conventional", "open to new ideas"),
        "conscientiousness": ("spontaneous", "organised"),
        "extraversion": ("reserved", "outgoing"),
        "agreeableness": ("skeptical", "cooperative"),
        "neuroticism": ("calm", "anxious"),
        "formality": ("casual", "formal"),
        "directness": ("indirect", "direct"),
        "detail_orientation": ("big-picture", "detail-oriented"),
        "patience": ("impatient", "patient"),
        "technical_comfort": ("tech-averse", "tech-savvy"),
        "frustration": ("relaxed", "frustrated"),
        "satisfaction": ("dissatisfied", "satisfied"),
        "urgency": ("unhurried", "pressed for time"),
    }
)


def describe_trait(trait: str, score: float) -> str | None:
    """The phrase for one score, or ``None`` in the neutral band (45 <= score < 55)."""
    low, high = TRAIT_WORDS[trait]
    if score < 35:
        return f"very {low}"
    if score < 45:
        return low
    if score < 55:
        return None
    if score < 65:
        return high
    return f"very {high}"


def describe_personality(scores: Mapping[str, float]) -> list[str]:
    """Phrases for the non-neutral scores, in ``PERSONALITY_TRAITS`` order.

    Missing traits are skipped. ``ValueError`` for an unknown trait or a score that is not
    a finite number in 0..100.
    """
    for trait in scores:
        if trait not in TRAIT_WORDS:
            raise ValueError(f"unknown personality trait {trait!r}")
    phrases: list[str] = []
    for trait in PERSONALITY_TRAITS:
        if trait not in scores:
            continue
        score = scores[trait]
        if isinstance(score, bool) or not isinstance(score, int | float):
            raise ValueError(f"personality score {trait!r} must be a number, got {score!r}")
        if not math.isfinite(score) or not 0 <= score <= 100:
            raise ValueError(f"personality score {trait!r} must be within 0..100, got {score}")
        phrase = describe_trait(trait, score)
        if phrase is not None:
            phrases.append(phrase)
    return phrases
