"""Property tests for ``pack_context``'s budget (hypothesis; skipped when it is not installed).

For any context and any budget: the text never exceeds the budget, holds only whole items
in priority order, and keeps every item of the longest high-priority prefix that fits.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

pytest.importorskip("hypothesis")

from hypothesis import given, settings
from hypothesis import strategies as st

from prompts.context import (
    CallerContext,
    CallerProfile,
    CallSummary,
    KnowledgeItem,
    MemoryItem,
    pack_context,
)
from prompts.personality import PERSONALITY_TRAITS
from tests.unit.test_prompts_context import item_lines, item_prefix_ends

NOW = datetime(2025, 3, 4, 15, 30, tzinfo=UTC)

texts = st.text(alphabet=st.characters(codec="utf-8"), min_size=0, max_size=120)
moments = st.integers(min_value=0, max_value=3 * 365 * 24 * 3600).map(
    lambda seconds: NOW - timedelta(seconds=seconds)
)
scores = st.floats(min_value=0, max_value=1, allow_nan=False)

profiles = st.none() | st.builds(
    CallerProfile,
    phone=st.just("+15550102030"),
    preferred_name=st.none() | texts,
    total_calls=st.integers(min_value=0, max_value=500),
    first_call_at=st.none() | moments,
    last_call_at=st.none() | moments,
)
contexts = st.builds(
    CallerContext,
    profile=profiles,
    personality=st.dictionaries(
        st.sampled_from(PERSONALITY_TRAITS), st.floats(min_value=0, max_value=100)
    ),
    summaries=st.lists(
        st.builds(
            CallSummary,
            at=moments,
            summary=texts,
            sentiment=st.none() | texts,
            resolution=st.none() | texts,
        ),
        max_size=5,
    ).map(tuple),
    memories=st.lists(
        st.builds(MemoryItem, type=texts, key=texts, value=texts, score=scores), max_size=12
    ).map(tuple),
    knowledge=st.lists(
        st.builds(KnowledgeItem, kind=texts, title=texts, body=texts, score=scores), max_size=8
    ).map(tuple),
)


@settings(max_examples=300, deadline=None, database=None)
@given(ctx=contexts, budget=st.integers(min_value=0, max_value=4000))
def test_budget_properties(ctx: CallerContext, budget: int) -> None:
    full = pack_context(ctx, now=NOW, budget_chars=1_000_000)
    out = pack_context(ctx, now=NOW, budget_chars=budget)
    assert len(out) <= budget
    full_items = item_lines(full)
    position = 0
    for item in item_lines(out):
        position = full_items.index(item, position) + 1
    fitting = [end for end in item_prefix_ends(full) if end <= budget]
    if fitting:
        assert out.startswith(full[: fitting[-1]])
    if len(full) <= budget:
        assert out == full
