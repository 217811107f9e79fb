"""Transcript redaction: cards (Luhn-valid only), SSNs, dates of birth, policy and account
numbers; claim numbers, phone numbers and other dates stay."""

from __future__ import annotations

import pytest

from engine.redact import ACCOUNT, BIRTH_DATE, CARD, POLICY, SSN, redact


@pytest.mark.parametrize(
    ("said", "stored"),
    [
        ("my card is 4111 1111 1111 1111 thanks", f"my card is {CARD} thanks"),
        ("card 4111-1111-1111-1111", f"card {CARD}"),
        ("amex 378282246310005", f"amex {CARD}"),
        ("my SSN is 123-45-6789", f"my SSN is {SSN}"),
        ("social security number is 123 45 6789", f"social security number is {SSN}"),
        ("ssn: 123456789", f"ssn: {SSN}"),
        ("my date of birth is March 4, 1980.", f"my date of birth is {BIRTH_DATE}."),
        ("DOB 03/04/1980", f"DOB {BIRTH_DATE}"),
        ("I was born on 4th March 1980 in Ohio", f"I was born on {BIRTH_DATE} in Ohio"),
        ("birthday: 1980-03-04", f"birthday: {BIRTH_DATE}"),
        ("my policy number is PA-2093177.", f"my policy number is {POLICY}."),
        ("Policy # 88812345", f"Policy # {POLICY}"),
        ("policy number 4111 1111 1111 1112", f"policy number {POLICY}"),
        ("account number 000123456789", f"account number {ACCOUNT}"),
        ("my routing number is 021000021", f"my routing number is {ACCOUNT}"),
    ],
)
def test_sensitive_numbers_are_replaced(said: str, stored: str) -> None:
    assert redact(said) == stored


@pytest.mark.parametrize(
    "said",
    [
        "reference 4111 1111 1111 1112",  # not Luhn-valid: not a card
        "the accident was on March 4, 2026",  # a date, but not of birth
        "my policy covers rentals and my account is paid up",
        "my policy is 3 years old",
        "claim 44718, call me at 555-123-4567",
        "the 2019 Honda Civic",
        "nine digits 123456789 without context",
    ],
)
def test_other_numbers_are_kept(said: str) -> None:
    assert redact(said) == said
