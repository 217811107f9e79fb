"""Caller personality scores in words: the bands, trait order, and input checks."""

from __future__ import annotations

import math

import pytest

from prompts.personality import PERSONALITY_TRAITS, TRAIT_WORDS, describe_personality


def test_the_thirteen_traits() -> None:
    assert PERSONALITY_TRAITS == (
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
    assert set(TRAIT_WORDS) == set(PERSONALITY_TRAITS)


@pytest.mark.parametrize(
    ("score", "expected"),
    [
        (0, ["very reserved"]),
        (34, ["very reserved"]),
        (34.99, ["very reserved"]),
        (35, ["reserved"]),
        (44, ["reserved"]),
        (44.5, ["reserved"]),
        (45, []),
        (50, []),
        (54, []),
        (54.99, []),
        (55, ["outgoing"]),
        (64, ["outgoing"]),
        (64.9, ["outgoing"]),
        (65, ["very outgoing"]),
        (100, ["very outgoing"]),
    ],
)
def test_bands(score: float, expected: list[str]) -> None:
    assert describe_personality({"extraversion": score}) == expected


@pytest.mark.parametrize("trait", PERSONALITY_TRAITS)
def test_every_trait_has_distinct_low_and_high_words(trait: str) -> None:
    low, high = TRAIT_WORDS[trait]
    assert describe_personality({trait: 40}) == [low]
    assert describe_personality({trait: 60}) == [high]
    assert describe_personality({trait: 10}) == [f"very {low}"]
    assert low != high


def test_phrases_follow_trait_order_and_skip_neutral_and_missing() -> None:
    scores = {"urgency": 90.0, "openness": 20.0, "patience": 50.0, "formality": 60.0}
    assert describe_personality(scores) == ["very conventional", "formal", "very pressed for time"]


def test_empty_scores() -> None:
    assert describe_personality({}) == []


@pytest.mark.parametrize(
    ("scores", "message"),
    [
        ({"charm": 50.0}, "unknown personality trait 'charm'"),
        ({"urgency": math.nan}, "'urgency' must be within 0..100"),
        ({"urgency": math.inf}, "'urgency' must be within 0..100"),
        ({"urgency": -0.1}, "'urgency' must be within 0..100"),
        ({"urgency": 100.1}, "'urgency' must be within 0..100"),
    ],
)
def test_rejects(scores: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message.replace(".", r"\.")):
        describe_personality(scores)
