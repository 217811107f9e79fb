"""Transcript redaction: cards (Luhn-valid only) and SSNs; policy and claim numbers stay."""

from __future__ import annotations

import pytest

from engine.redact import CARD, SSN, redact


@pytest.mark.parametrize(
    ("said", "stored"),
    [
        ("my card is 4111 1111 1111 1111 thanks", f"my card is {CARD} thanks"),
        ("card 4111-1111-1111-1111", f"card {CARD}"),
        ("amex 378282246310005", f"amex {CARD}"),
        ("my SSN is 123-45-6789", f"my SSN is {SSN}"),
        ("social security number is 123 45 6789", f"social security number is {SSN}"),
        ("ssn: 123456789", f"ssn: {SSN}"),
    ],
)
def test_sensitive_numbers_are_replaced(said: str, stored: str) -> None:
    assert redact(said) == stored


@pytest.mark.parametrize(
    "said",
    [
        "policy number 4111 1111 1111 1112",  # not Luhn-valid: not a card
        "claim 44718, call me at 555-123-4567",
        "the 2019 Honda Civic",
        "nine digits 123456789 without context",
    ],
)
def test_other_numbers_are_kept(said: str) -> None:
    assert redact(said) == said
