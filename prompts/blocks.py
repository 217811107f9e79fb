"""The five prompt blocks, their preset libraries, and resolution of a tenant's choice.

Pure functions. The preset texts live in ``templates/blocks.txt``, read once at import.

A tenant picks, per block, either a preset name (``"insurance_agent"``) or its own text as
``"custom:<text>"``. Blocks are concatenated in ``BLOCK_NAMES`` order.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from prompts._templates import template_sections

BLOCK_NAMES: tuple[str, ...] = (
    "system_role",
    "emotional_tone",
    "conversational_style",
    "knowledge_context",
    "safety_boundaries",
)

_PRESET_NAMES: Mapping[str, tuple[str, ...]] = {
    "system_role": ("insurance_agent", "friendly_advisor", "expert_consultant", "family_protector"),
    "emotional_tone": (
        "warm_empathetic",
        "confident_reassuring",
        "playful_charismatic",
        "direct_efficient",
    ),
    "conversational_style": ("natural_casual", "concise_clear", "storytelling", "question_driven"),
    "knowledge_context": ("full_context", "policy_focused", "claims_support", "new_business"),
    "safety_boundaries": (
        "standard_professional",
        "strict_compliance",
        "family_friendly",
        "empowered_helpful",
    ),
}

DEFAULT_BLOCKS: Mapping[str, str] = MappingProxyType(
    {
        "system_role": "insurance_agent",
        "emotional_tone": "warm_empathetic",
        "conversational_style": "natural_casual",
        "knowledge_context": "full_context",
        "safety_boundaries": "standard_professional",
    }
)

CUSTOM_PREFIX = "custom:"
MAX_CUSTOM_BLOCK_CHARS = 4000


def _load_presets() -> Mapping[str, Mapping[str, str]]:
    sections = template_sections("blocks.txt")
    expected = {f"{block}.{name}" for block, names in _PRESET_NAMES.items() for name in names}
    if set(sections) != expected:
        missing = sorted(expected - set(sections))
        extra = sorted(set(sections) - expected)
        raise RuntimeError(f"templates/blocks.txt: missing {missing}, unexpected {extra}")
    return MappingProxyType(
        {
            block: MappingProxyType(
                {name: " ".join(sections[f"{block}.{name}"].split()) for name in names}
            )
            for block, names in _PRESET_NAMES.items()
        }
    )


BLOCK_PRESETS: Mapping[str, Mapping[str, str]] = _load_presets()


def resolve_block(block: str, choice: str) -> str:
    """The text for one block: a preset's text, or the text after ``custom:``."""
    presets = BLOCK_PRESETS.get(block)
    if presets is None:
        raise ValueError(f"unknown prompt block {block!r}; valid blocks: {', '.join(BLOCK_NAMES)}")
    if choice.startswith(CUSTOM_PREFIX):
        text = choice[len(CUSTOM_PREFIX) :].strip()
        if not text:
            raise ValueError(f"custom text for prompt block {block!r} is empty")
        if len(text) > MAX_CUSTOM_BLOCK_CHARS:
            raise ValueError(
                f"custom text for prompt block {block!r} is longer than "
                f"{MAX_CUSTOM_BLOCK_CHARS} characters"
            )
        return text
    preset = presets.get(choice)
    if preset is None:
        raise ValueError(
            f"unknown preset {choice!r} for prompt block {block!r}; valid presets: "
            f"{', '.join(presets)}, or 'custom:<text>'"
        )
    return preset


def resolve_blocks(choice: Mapping[str, str]) -> dict[str, str]:
    """Resolve a tenant's block choice to texts, in ``BLOCK_NAMES`` order.

    Missing blocks take their ``DEFAULT_BLOCKS`` preset; an unknown block name, an unknown
    preset, or an empty or over-long custom text raises ``ValueError``.
    """
    for block in choice:
        if block not in BLOCK_PRESETS:
            raise ValueError(
                f"unknown prompt block {block!r}; valid blocks: {', '.join(BLOCK_NAMES)}"
            )
    return {
        block: resolve_block(block, choice.get(block, DEFAULT_BLOCKS[block]))
        for block in BLOCK_NAMES
    }
