"""Personality rollup: all-call averages, state scores over the last 3 calls, trend per call."""

from __future__ import annotations

import pytest

from memory.personality import context_scores, rollup
from prompts.personality import PERSONALITY_TRAITS


def call(**scores: float) -> dict[str, float]:
    return {**dict.fromkeys(PERSONALITY_TRAITS, 50.0), **scores}


def test_recent_state_uses_the_last_three_calls_only() -> None:
    newest_first = [
        call(frustration=90),
        call(frustration=80),
        call(frustration=70),
        call(frustration=0),
    ]
    result = rollup(4, {"frustration": 60.0, "openness": 55.0}, newest_first)
    assert result.recent["frustration"] == 80.0
    assert result.averages == {"frustration": 60.0, "openness": 55.0}
    assert result.calls == 4


def test_trend_is_the_slope_per_call_oldest_to_newest() -> None:
    # Frustration rising by 10 a call over the last five calls; satisfaction falling by 5.
    newest_first = [call(frustration=90 - 10 * i, satisfaction=40 + 5 * i) for i in range(5)]
    newest_first.append(call(frustration=0))  # older than the trend window
    result = rollup(6, {}, newest_first)
    assert result.trend["frustration"] == pytest.approx(10.0)
    assert result.trend["satisfaction"] == pytest.approx(-5.0)
    assert result.trend["openness"] == 0.0


def test_one_call_has_no_trend() -> None:
    result = rollup(1, {"urgency": 70.0}, [call(urgency=70)])
    assert result.trend["urgency"] == 0.0
    assert result.recent["urgency"] == 70.0


def test_context_takes_state_from_recent_calls() -> None:
    scores = context_scores(
        {"frustration": 20.0, "openness": 70.0, "bogus": 1.0}, {"frustration": 85.0}
    )
    assert scores == {"frustration": 85.0, "openness": 70.0}
