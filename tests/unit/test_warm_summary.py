"""What the person who answers a warm transfer hears: who is calling, for whom, and why in the
model's words when it gave a reason (bounded, one line)."""

from __future__ import annotations

from engine.config import TransferRule
from engine.warm_transfer import MAX_WHY, summary

CLAIMS = TransferRule(keyword="claims", number="+15550001234", description="the claims team")


def test_the_summary_names_the_caller_the_team_and_the_reason() -> None:
    said = summary(CLAIMS, "+15550300001", why="a question about the rental car")
    assert said == (
        "This is the agency's assistant with a caller from 5 5 5 0 3 0 0 0 0 1, asking for the"
        " claims team, about a question about the rental car."
    )
    assert summary(CLAIMS, "+15550300001", "Robin Lee").endswith("asking for the claims team.")


def test_a_long_or_multiline_reason_is_one_bounded_line() -> None:
    said = summary(CLAIMS, "+15550300001", why="rental\ncar " + "x" * 500)
    assert "\n" not in said
    assert len(said) < 120 + MAX_WHY
    assert summary(CLAIMS, "anonymous", why="   ").endswith("asking for the claims team.")
