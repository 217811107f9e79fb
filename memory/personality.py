"""Per-caller personality from per-call scores: averages, recent state, trend. Pure, no I/O.

Averages cover all calls (computed in SQL over every row; see memory.store). The state scores
(frustration, satisfaction, urgency) describe how the caller is *now*, so the context uses their
mean over the last 3 calls. The trend is the least-squares slope, in points per call, over the
last 5 calls (0 with fewer than 2), so "getting more frustrated" is a number, not a guess.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from memory.caller_records import PersonalityRollup
from prompts.personality import PERSONALITY_TRAITS

STATE_TRAITS = ("frustration", "satisfaction", "urgency")
RECENT_CALLS = 3
TREND_CALLS = 5


def stored_scores(value: object) -> dict[str, float]:
    """Trait -> score from a stored JSON object of scores (anything else: none)."""
    return {str(k): float(v) for k, v in value.items()} if isinstance(value, dict) else {}


def _slope(values: Sequence[float]) -> float:
    n = len(values)
    if n < 2:
        return 0.0
    mean_x = (n - 1) / 2
    mean_y = sum(values) / n
    num = sum((x - mean_x) * (y - mean_y) for x, y in enumerate(values))
    den = sum((x - mean_x) ** 2 for x in range(n))
    return num / den


def rollup(
    calls: int,
    averages: Mapping[str, float],
    newest_first: Sequence[Mapping[str, float]],
) -> PersonalityRollup:
    """Combine all-call ``averages`` with the most recent calls' scores (newest first)."""
    recent_rows = list(newest_first[:RECENT_CALLS])
    trend_rows = list(reversed(newest_first[:TREND_CALLS]))  # oldest first, for the slope
    recent: dict[str, float] = {}
    for trait in STATE_TRAITS:
        values = [float(r[trait]) for r in recent_rows if trait in r]
        if values:
            recent[trait] = round(sum(values) / len(values), 2)
    trend: dict[str, float] = {}
    for trait in PERSONALITY_TRAITS:
        values = [float(r[trait]) for r in trend_rows if trait in r]
        trend[trait] = round(_slope(values), 2)
    return PersonalityRollup(
        calls=calls,
        averages={t: round(float(averages[t]), 2) for t in PERSONALITY_TRAITS if t in averages},
        recent=recent,
        trend=trend,
    )


def context_scores(averages: Mapping[str, float], recent: Mapping[str, float]) -> dict[str, float]:
    """What the caller context shows: all-call averages, state scores from recent calls."""
    scores = {t: float(v) for t, v in averages.items() if t in PERSONALITY_TRAITS}
    for trait in STATE_TRAITS:
        if trait in recent:
            scores[trait] = float(recent[trait])
    return scores
