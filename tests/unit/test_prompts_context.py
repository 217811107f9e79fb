"""Caller context packing: sections, ordering, relative dates and the size budget.

``full_context()`` and ``NOW`` are shared with the instruction snapshot tests.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from prompts.context import (
    NEW_CALLER_LINE,
    CallerContext,
    CallerProfile,
    CallSummary,
    KnowledgeItem,
    MemoryItem,
    pack_context,
    relative_date,
)

NOW = datetime(2025, 3, 4, 15, 30, tzinfo=UTC)
EMPTY = CallerContext(profile=None, personality={}, summaries=(), memories=(), knowledge=())


def full_context() -> CallerContext:
    """A returning caller with a bit of everything; inputs deliberately out of order."""
    return CallerContext(
        profile=CallerProfile(
            phone="+15550102030",
            preferred_name="Dana Whitfield",
            total_calls=4,
            first_call_at=datetime(2024, 11, 20, 14, 0, tzinfo=UTC),
            last_call_at=datetime(2025, 3, 1, 16, 45, tzinfo=UTC),
        ),
        personality={
            "openness": 50.0,
            "extraversion": 70.0,
            "formality": 62.0,
            "detail_orientation": 80.0,
            "patience": 38.0,
            "frustration": 58.0,
            "urgency": 30.0,
        },
        summaries=(
            CallSummary(
                at=datetime(2025, 2, 10, 19, 0, tzinfo=UTC),
                summary="Reported hail damage to the roof; a claim was opened with the carrier.",
                sentiment="worried",
                resolution="resolved",
            ),
            CallSummary(
                at=datetime(2024, 11, 20, 14, 0, tzinfo=UTC),
                summary="First call: asked for a home and auto bundle quote.",
                sentiment="positive",
                resolution="resolved",
            ),
            CallSummary(
                at=datetime(2025, 3, 1, 16, 45, tzinfo=UTC),
                summary="Asked to add her son Leo (17) as a driver on the auto policy;\n"
                "will call back with his permit number.",
                sentiment="positive",
                resolution="pending",
            ),
            CallSummary(
                at=datetime(2025, 1, 6, 15, 0, tzinfo=UTC),
                summary="Asked why the home premium went up at renewal.",
                sentiment=None,
                resolution=" ",
            ),
        ),
        memories=(
            MemoryItem("preference", "contact", "Prefers text messages over calls", 0.75),
            MemoryItem("person", "son", "Leo, 17, learning to drive", 0.92),
            MemoryItem(
                "policy", "auto_policy", "Auto policy with Progressive, renews in June", 0.8
            ),
            MemoryItem("vehicle", "primary_car", "2019 Honda CR-V", 0.88),
            MemoryItem("commitment", "permit_number", "Will call back with Leo's permit", 0.7),
        ),
        knowledge=(
            KnowledgeItem(
                "fact",
                "Office hours",
                "Monday to Friday 9 am to 5 pm; Saturday 10 am to 1 pm.",
                0.6,
            ),
            KnowledgeItem(
                "procedure",
                "Adding a teen driver",
                "Collect the driver's full name, date of birth and permit or license number;\n"
                "a licensed agent updates the policy and confirms the new premium.",
                0.9,
            ),
            KnowledgeItem("rule", "Storm claims", "Report hail claims within 24 hours.", 0.4),
        ),
    )


def item_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line and not line.startswith("## ")]


def item_prefix_ends(text: str) -> list[int]:
    """For each item line of ``text``, the offset where that line ends."""
    ends: list[int] = []
    offset = 0
    for line in text.split("\n"):
        offset += len(line)
        if line and not line.startswith("## "):
            ends.append(offset)
        offset += 1
    return ends


def test_empty_context_is_a_new_caller() -> None:
    assert pack_context(EMPTY, now=NOW) == NEW_CALLER_LINE


def test_full_context() -> None:
    text = pack_context(full_context(), now=NOW)
    assert text == (
        "## Who the caller is\n"
        "- Their name is Dana Whitfield.\n"
        "- They have called 4 times before; first call 3 months ago (2024-11-20), "
        "last call 2 days ago (2025-03-01).\n"
        "\n"
        "## How to speak with them\n"
        "- Earlier calls suggest they are: very outgoing, formal, very detail-oriented, "
        "impatient, frustrated, very unhurried.\n"
        "\n"
        "## Their last calls (newest first)\n"
        "- 2 days ago (2025-03-01): Asked to add her son Leo (17) as a driver on the auto "
        "policy; will call back with his permit number. (mood: positive; outcome: pending)\n"
        "- 3 weeks ago (2025-02-10): Reported hail damage to the roof; a claim was opened "
        "with the carrier. (mood: worried; outcome: resolved)\n"
        "- 8 weeks ago (2025-01-06): Asked why the home premium went up at renewal.\n"
        "\n"
        "## What we know about them\n"
        "- (person) son: Leo, 17, learning to drive\n"
        "- (vehicle) primary_car: 2019 Honda CR-V\n"
        "- (policy) auto_policy: Auto policy with Progressive, renews in June\n"
        "- (preference) contact: Prefers text messages over calls\n"
        "- (commitment) permit_number: Will call back with Leo's permit\n"
        "\n"
        "## Agency knowledge\n"
        "- Adding a teen driver (procedure): Collect the driver's full name, date of birth and "
        "permit or license number; a licensed agent updates the policy and confirms the new "
        "premium.\n"
        "- Office hours (fact): Monday to Friday 9 am to 5 pm; Saturday 10 am to 1 pm.\n"
        "- Storm claims (rule): Report hail claims within 24 hours."
    )


@pytest.mark.parametrize(
    ("delta", "expected"),
    [
        (timedelta(seconds=-5), "just now"),
        (timedelta(seconds=59), "just now"),
        (timedelta(minutes=1), "1 minute ago"),
        (timedelta(minutes=59, seconds=59), "59 minutes ago"),
        (timedelta(hours=1), "1 hour ago"),
        (timedelta(hours=23, minutes=59), "23 hours ago"),
        (timedelta(days=1), "1 day ago"),
        (timedelta(days=3), "3 days ago"),
        (timedelta(days=13, hours=23), "13 days ago"),
        (timedelta(days=14), "2 weeks ago"),
        (timedelta(days=59), "8 weeks ago"),
        (timedelta(days=60), "2 months ago"),
        (timedelta(days=364), "12 months ago"),
        (timedelta(days=365), "1 year ago"),
        (timedelta(days=800), "2 years ago"),
    ],
)
def test_relative_date(delta: timedelta, expected: str) -> None:
    assert relative_date(NOW - delta, NOW).startswith(expected + " (")


def test_relative_date_shows_the_calendar_date_in_nows_zone() -> None:
    tokyo_now = NOW.astimezone(timezone(timedelta(hours=9)))  # 2025-03-05 00:30 in UTC+9
    at = datetime(2025, 3, 4, 15, 0, tzinfo=UTC)  # 2025-03-05 00:00 in UTC+9
    assert relative_date(at, NOW) == "30 minutes ago (2025-03-04)"
    assert relative_date(at, tokyo_now) == "30 minutes ago (2025-03-05)"


def test_profile_variants() -> None:
    base = CallerProfile(
        phone="+15550102030",
        preferred_name=None,
        total_calls=0,
        first_call_at=None,
        last_call_at=None,
    )
    ctx = CallerContext(profile=base, personality={}, summaries=(), memories=(), knowledge=())
    text = pack_context(ctx, now=NOW)
    assert "Their name is not known yet" in text
    assert "This is their first call." in text
    once = CallerProfile(
        phone="+15550102030",
        preferred_name="  Dana  ",
        total_calls=1,
        first_call_at=NOW - timedelta(days=3),
        last_call_at=NOW - timedelta(days=3),
    )
    text = pack_context(
        CallerContext(profile=once, personality={}, summaries=(), memories=(), knowledge=()),
        now=NOW,
    )
    assert "- Their name is Dana.\n" in text
    assert "- They have called once before, 3 days ago (2025-03-01)." in text


def test_no_profile_but_memories_is_not_called_new() -> None:
    ctx = CallerContext(
        profile=None,
        personality={},
        summaries=(),
        memories=(MemoryItem("fact", "k", "v", 1.0),),
        knowledge=(),
    )
    assert NEW_CALLER_LINE not in pack_context(ctx, now=NOW)


def test_new_caller_with_agency_knowledge() -> None:
    ctx = CallerContext(
        profile=None,
        personality={},
        summaries=(),
        memories=(),
        knowledge=(KnowledgeItem("fact", "Hours", "9 to 5.", 0.5),),
    )
    assert pack_context(ctx, now=NOW) == (
        f"{NEW_CALLER_LINE}\n\n## Agency knowledge\n- Hours (fact): 9 to 5."
    )


def test_equal_scores_are_ordered_deterministically() -> None:
    items = (
        MemoryItem("fact", "b", "two", 0.5),
        MemoryItem("fact", "a", "one", 0.5),
        MemoryItem("car", "z", "three", 0.5),
    )
    texts = {
        pack_context(
            CallerContext(None, {}, (), tuple(order), ()),
            now=NOW,
        )
        for order in (items, items[::-1], (items[1], items[2], items[0]))
    }
    assert len(texts) == 1
    assert item_lines(texts.pop()) == ["- (car) z: three", "- (fact) a: one", "- (fact) b: two"]


def test_budget_exhaustively() -> None:
    """Every budget from 0 to the full size: never over budget, whole items only, in order,
    and whatever is dropped is dropped from the low-priority end first."""
    ctx = full_context()
    full = pack_context(ctx, now=NOW, budget_chars=100_000)
    full_items = item_lines(full)
    ends = item_prefix_ends(full)
    for budget in range(len(full) + 5):
        out = pack_context(ctx, now=NOW, budget_chars=budget)
        assert len(out) <= budget
        items = item_lines(out)
        # whole items, in priority order (a subsequence of the full list)
        position = 0
        for item in items:
            position = full_items.index(item, position) + 1
        # the highest-priority items that fit together are always all there
        fitting = [end for end in ends if end <= budget]
        if fitting:
            assert out.startswith(full[: fitting[-1]])
        if budget >= len(full):
            assert out == full


def test_budget_drops_the_lowest_priority_item_first() -> None:
    ctx = full_context()
    full = pack_context(ctx, now=NOW)
    out = pack_context(ctx, now=NOW, budget_chars=len(full) - 1)
    assert item_lines(out) == item_lines(full)[:-1]
    assert "Storm claims" not in out
    assert "Office hours" in out


def test_budget_drops_a_whole_section_with_its_heading() -> None:
    ctx = full_context()
    full = pack_context(ctx, now=NOW)
    knowledge_at = full.index("\n\n## Agency knowledge")
    out = pack_context(ctx, now=NOW, budget_chars=knowledge_at + 20)
    assert out == full[:knowledge_at]
    assert "##" not in out.splitlines()[-1]


def test_an_item_too_big_to_fit_is_skipped_whole() -> None:
    huge = MemoryItem("fact", "huge", "x" * 500, 0.99)
    small = MemoryItem("fact", "small", "fits", 0.1)
    ctx = CallerContext(None, {}, (), (huge, small), ())
    out = pack_context(ctx, now=NOW, budget_chars=200)
    assert out == "## What we know about them\n- (fact) small: fits"


def test_tiny_budgets() -> None:
    assert pack_context(EMPTY, now=NOW, budget_chars=0) == ""
    assert pack_context(EMPTY, now=NOW, budget_chars=len(NEW_CALLER_LINE) - 1) == ""
    assert pack_context(EMPTY, now=NOW, budget_chars=len(NEW_CALLER_LINE)) == NEW_CALLER_LINE


def test_only_the_last_three_summaries() -> None:
    text = pack_context(full_context(), now=NOW)
    assert "bundle quote" not in text
    assert text.count("(20") == 2 + 3  # two profile dates, three summaries


def test_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="now must be a timezone-aware"):
        pack_context(EMPTY, now=datetime(2025, 3, 4, 15, 30))
    with pytest.raises(ValueError, match="must not be negative"):
        pack_context(EMPTY, now=NOW, budget_chars=-1)
    naive = CallSummary(at=datetime(2025, 3, 1), summary="s", sentiment=None, resolution=None)
    with pytest.raises(ValueError, match="timezone-aware"):
        pack_context(CallerContext(None, {}, (naive,), (), ()), now=NOW)


def test_dataclasses_are_frozen_and_slotted() -> None:
    item = MemoryItem("fact", "k", "v", 1.0)
    with pytest.raises(AttributeError):
        item.value = "w"  # type: ignore[misc]
    assert not hasattr(item, "__dict__")
