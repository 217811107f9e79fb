"""Persona sliders: the preset table, validation, and the slider -> instruction bands."""

from __future__ import annotations

import re

import pytest

from prompts._templates import template_sections
from prompts.persona import (
    CORE_SLIDER_KEYS,
    DEFAULT_SLIDERS,
    PRESETS,
    SLIDER_KEYS,
    apply_preset,
    slider_instruction,
    slider_instructions,
    validate_sliders,
)

# Copied by hand from SEED_INVENTORY.md: key -> (professional, friendly, assertive,
# empathetic, flirtatious). Deliberately not derived from the code under test.
SEED_TABLE: dict[str, tuple[int, int, int, int, int]] = {
    "warmth": (60, 90, 50, 90, 95),
    "formality": (80, 40, 60, 50, 15),
    "humor": (20, 70, 30, 50, 85),
    "directness": (70, 60, 90, 50, 45),
    "empathy": (65, 85, 50, 95, 90),
    "confidence": (85, 70, 95, 65, 75),
    "curiosity": (50, 70, 40, 75, 80),
    "patience": (80, 85, 50, 95, 85),
    "creativity": (30, 60, 40, 60, 70),
    "analytical": (80, 50, 75, 60, 30),
    "storytelling": (30, 70, 40, 75, 75),
    "detail": (75, 50, 60, 60, 40),
    "assertiveness": (70, 50, 95, 40, 35),
    "humility": (40, 60, 20, 70, 60),
    "optimism": (70, 85, 80, 80, 90),
    "sarcasm": (10, 40, 30, 20, 45),
    "formalityShift": (60, 50, 50, 60, 40),
    "inclusive": (85, 80, 70, 95, 80),
    "memory": (85, 80, 75, 90, 90),
    "risk": (30, 50, 70, 40, 65),
    "selfReference": (30, 60, 50, 60, 70),
    "topicFocus": (80, 60, 85, 70, 40),
    "repetition": (75, 70, 80, 75, 60),
    "polish": (90, 65, 75, 70, 75),
    "intensity": (50, 70, 75, 65, 75),
    "caution": (70, 60, 50, 70, 30),
    "jargon": (60, 30, 50, 25, 20),
    "humorSensitivity": (80, 70, 60, 85, 40),
    "consistency": (85, 75, 80, 80, 70),
    "metaAwareness": (50, 60, 40, 70, 55),
}
TABLE_COLUMNS = ("professional", "friendly", "assertive", "empathetic", "flirtatious")

# Anything that would touch AI disclosure: denying it, claiming to be human, and so on.
DISCLOSURE_WORDS = re.compile(
    r"\b(ai|a\.i\.|artificial|bot|robot|machine|human|person|deny|denies|denying|pretend|"
    r"real|assistant|automated|virtual)\b",
    re.IGNORECASE,
)


def test_slider_keys_follow_the_seed_table() -> None:
    assert tuple(SEED_TABLE) == SLIDER_KEYS
    assert len(SLIDER_KEYS) == 30
    assert SLIDER_KEYS[:16] == CORE_SLIDER_KEYS
    assert CORE_SLIDER_KEYS[-1] == "sarcasm"


def test_preset_names() -> None:
    assert set(PRESETS) == {*TABLE_COLUMNS, "balanced"}


@pytest.mark.parametrize("column", range(len(TABLE_COLUMNS)))
def test_preset_values_match_the_seed_table(column: int) -> None:
    name = TABLE_COLUMNS[column]
    expected = {key: row[column] for key, row in SEED_TABLE.items()}
    assert dict(PRESETS[name]) == expected
    assert apply_preset(name) == expected


def test_balanced_and_default_are_all_fifty() -> None:
    assert dict(PRESETS["balanced"]) == dict.fromkeys(SEED_TABLE, 50)
    assert dict(DEFAULT_SLIDERS) == dict.fromkeys(SEED_TABLE, 50)


def test_apply_preset_returns_a_copy() -> None:
    values = apply_preset("professional")
    values["warmth"] = 0
    assert PRESETS["professional"]["warmth"] == 60
    with pytest.raises(TypeError):
        PRESETS["professional"]["warmth"] = 0  # type: ignore[index]


def test_apply_preset_unknown_lists_valid_presets() -> None:
    with pytest.raises(ValueError, match="unknown persona preset 'cheerful'") as info:
        apply_preset("cheerful")
    for name in (*TABLE_COLUMNS, "balanced"):
        assert name in str(info.value)


def test_validate_fills_missing_keys_with_fifty_in_order() -> None:
    result = validate_sliders({"metaAwareness": 0, "warmth": 100})
    assert list(result) == list(SLIDER_KEYS)
    assert result["warmth"] == 100
    assert result["metaAwareness"] == 0
    assert all(result[key] == 50 for key in SLIDER_KEYS if key not in {"warmth", "metaAwareness"})


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"warmthh": 50}, "unknown persona slider 'warmthh'"),
        ({"humor": True}, "'humor' must be an integer"),
        ({"humor": False}, "'humor' must be an integer"),
        ({"humor": 50.0}, "'humor' must be an integer"),
        ({"humor": "50"}, "'humor' must be an integer"),
        ({"humor": None}, "'humor' must be an integer"),
        ({"detail": -1}, "'detail' must be between 0 and 100, got -1"),
        ({"detail": 101}, "'detail' must be between 0 and 100, got 101"),
    ],
)
def test_validate_rejects(values: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        validate_sliders(values)


def test_validate_accepts_the_bounds() -> None:
    assert validate_sliders({"humor": 0, "detail": 100})["detail"] == 100


WARMTH_POSITIVE = "Be {} warm and personable; let callers hear that you are glad to help them."
WARMTH_MILD = "Be polite and pleasant, but keep a businesslike reserve."
WARMTH_STRONG = "Stay neutral and businesslike; skip small talk and personal warmth."


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0, [WARMTH_STRONG]),
        (29, [WARMTH_STRONG]),
        (30, [WARMTH_MILD]),
        (49, [WARMTH_MILD]),
        (50, []),
        (51, [WARMTH_POSITIVE.format("moderately")]),
        (64, [WARMTH_POSITIVE.format("moderately")]),
        (65, [WARMTH_POSITIVE.format("quite")]),
        (79, [WARMTH_POSITIVE.format("quite")]),
        (80, [WARMTH_POSITIVE.format("very")]),
        (100, [WARMTH_POSITIVE.format("very")]),
    ],
)
def test_slider_bands(value: int, expected: list[str]) -> None:
    assert slider_instructions({"warmth": value}) == expected


@pytest.mark.parametrize("key", SLIDER_KEYS)
def test_every_slider_has_three_distinct_phrasings(key: str) -> None:
    strong, mild, neutral = (slider_instruction(key, v) for v in (29, 30, 50))
    moderately, quite, very = (slider_instruction(key, v) for v in (51, 65, 80))
    assert neutral is None
    texts = [strong, mild, moderately, quite, very]
    assert all(text and "{" not in text and "}" not in text for text in texts)
    assert len(set(texts)) == 5
    assert moderately is not None
    assert quite is not None
    assert very is not None
    assert " moderately " in f" {moderately} "
    assert " quite " in f" {quite} "
    assert " very " in f" {very} "


def test_slider_template_file_is_complete() -> None:
    sections = template_sections("sliders.txt")
    assert len(sections) == 90
    for key in SLIDER_KEYS:
        assert sections[f"{key}.positive"].count("{intensity}") == 1
        assert "{" not in sections[f"{key}.mild"]
        assert "{" not in sections[f"{key}.strong"]


def test_instructions_follow_slider_key_order() -> None:
    values = {"metaAwareness": 90, "warmth": 10, "polish": 70}
    lines = slider_instructions(values)
    assert lines == [
        slider_instruction("warmth", 10),
        slider_instruction("polish", 70),
        slider_instruction("metaAwareness", 90),
    ]


def test_balanced_yields_no_instructions() -> None:
    assert slider_instructions(PRESETS["balanced"]) == []
    assert slider_instructions({}) == []


def test_slider_instructions_validate_their_input() -> None:
    with pytest.raises(ValueError, match="'nope'"):
        slider_instructions({"nope": 10})
    with pytest.raises(ValueError, match="unknown persona slider 'nope'"):
        slider_instruction("nope", 10)


@pytest.mark.parametrize("value", range(0, 101))
def test_self_reference_never_touches_ai_disclosure(value: int) -> None:
    line = slider_instruction("selfReference", value)
    if line is not None:
        assert DISCLOSURE_WORDS.search(line) is None, line


def test_self_reference_low_means_rarely_talk_about_yourself() -> None:
    line = slider_instruction("selfReference", 0)
    assert line is not None
    assert "rarely talk about yourself" in line.lower()


@pytest.mark.parametrize("key", SLIDER_KEYS)
def test_no_slider_tells_the_agent_to_deny_being_an_ai(key: str) -> None:
    for value in (0, 29, 30, 49, 51, 65, 80, 100):
        line = slider_instruction(key, value) or ""
        assert not re.search(r"\b(deny|denies|denying|not an ai|human|pretend)\b", line, re.I)


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_renders(name: str) -> None:
    lines = slider_instructions(PRESETS[name])
    assert len(lines) == sum(1 for value in PRESETS[name].values() if value != 50)
