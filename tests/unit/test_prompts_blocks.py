"""Prompt blocks: preset library, defaults, and resolution of a tenant's choice."""

from __future__ import annotations

import re

import pytest

from prompts.blocks import (
    BLOCK_NAMES,
    BLOCK_PRESETS,
    DEFAULT_BLOCKS,
    MAX_CUSTOM_BLOCK_CHARS,
    resolve_blocks,
)

# From SEED_INVENTORY.md, in its order.
SEED_PRESETS = {
    "system_role": ["insurance_agent", "friendly_advisor", "expert_consultant", "family_protector"],
    "emotional_tone": [
        "warm_empathetic",
        "confident_reassuring",
        "playful_charismatic",
        "direct_efficient",
    ],
    "conversational_style": ["natural_casual", "concise_clear", "storytelling", "question_driven"],
    "knowledge_context": ["full_context", "policy_focused", "claims_support", "new_business"],
    "safety_boundaries": [
        "standard_professional",
        "strict_compliance",
        "family_friendly",
        "empowered_helpful",
    ],
}


def test_block_order() -> None:
    assert BLOCK_NAMES == (
        "system_role",
        "emotional_tone",
        "conversational_style",
        "knowledge_context",
        "safety_boundaries",
    )


def test_preset_names_match_the_seed() -> None:
    assert {block: list(presets) for block, presets in BLOCK_PRESETS.items()} == SEED_PRESETS


def test_defaults() -> None:
    assert dict(DEFAULT_BLOCKS) == {
        "system_role": "insurance_agent",
        "emotional_tone": "warm_empathetic",
        "conversational_style": "natural_casual",
        "knowledge_context": "full_context",
        "safety_boundaries": "standard_professional",
    }


@pytest.mark.parametrize(
    ("block", "preset"),
    [(block, preset) for block, presets in SEED_PRESETS.items() for preset in presets],
)
def test_preset_texts_are_two_to_five_sentences(block: str, preset: str) -> None:
    text = BLOCK_PRESETS[block][preset]
    sentences = re.findall(r"[.!?](?:\s|$)", text)
    assert 2 <= len(sentences) <= 5, text
    assert "\n" not in text
    assert "  " not in text
    assert "{" not in text


def test_preset_texts_are_distinct() -> None:
    texts = [text for presets in BLOCK_PRESETS.values() for text in presets.values()]
    assert len(set(texts)) == len(texts) == 20


def test_resolve_empty_choice_gives_defaults_in_order() -> None:
    resolved = resolve_blocks({})
    assert list(resolved) == list(BLOCK_NAMES)
    assert resolved == {block: BLOCK_PRESETS[block][DEFAULT_BLOCKS[block]] for block in BLOCK_NAMES}


def test_resolve_presets_and_custom_text() -> None:
    resolved = resolve_blocks(
        {
            "safety_boundaries": "strict_compliance",
            "emotional_tone": "custom:  Be calm. Be kind.  ",
        }
    )
    assert list(resolved) == list(BLOCK_NAMES)
    assert resolved["safety_boundaries"] == BLOCK_PRESETS["safety_boundaries"]["strict_compliance"]
    assert resolved["emotional_tone"] == "Be calm. Be kind."
    assert resolved["system_role"] == BLOCK_PRESETS["system_role"]["insurance_agent"]


def test_custom_text_keeps_braces_and_line_breaks() -> None:
    text = "First line {not a placeholder}.\nSecond line."
    assert resolve_blocks({"system_role": f"custom:{text}"})["system_role"] == text


@pytest.mark.parametrize(
    ("choice", "message"),
    [
        ({"system_rol": "insurance_agent"}, "unknown prompt block 'system_rol'"),
        ({"system_role": "warm_empathetic"}, "unknown preset 'warm_empathetic'"),
        ({"system_role": ""}, "unknown preset ''"),
        ({"system_role": "custom:"}, "custom text for prompt block 'system_role' is empty"),
        ({"system_role": "custom:   \n "}, "is empty"),
        (
            {"system_role": "custom:" + "x" * (MAX_CUSTOM_BLOCK_CHARS + 1)},
            f"longer than {MAX_CUSTOM_BLOCK_CHARS}",
        ),
    ],
)
def test_resolve_rejects(choice: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        resolve_blocks(choice)


def test_unknown_preset_error_lists_valid_ones() -> None:
    with pytest.raises(ValueError, match="insurance_agent, friendly_advisor") as info:
        resolve_blocks({"system_role": "nope"})
    assert "custom:<text>" in str(info.value)


def test_custom_text_at_the_limit_is_accepted() -> None:
    text = "x" * MAX_CUSTOM_BLOCK_CHARS
    assert resolve_blocks({"system_role": f"custom:{text}"})["system_role"] == text
