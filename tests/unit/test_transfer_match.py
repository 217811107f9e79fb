"""Spotting a clear transfer request in a caller transcript (engine.transfer_match). Pure."""

from __future__ import annotations

import pytest

from engine.config import TransferRule
from engine.transfer_match import match_transfer_request

CLAIMS = TransferRule("claims", "+15550100", "our claims team")
BILLING = TransferRule("billing", "+15550122")
FRONT_DESK = TransferRule("front desk", "+15550111", "the front desk")
RULES = (CLAIMS, BILLING, FRONT_DESK)


@pytest.mark.parametrize(
    ("text", "keyword"),
    [
        ("talk to claims", "claims"),
        ("Can I talk to claims please", "claims"),
        ("Talk To CLAIMS!", "claims"),
        ("transfer me to billing", "billing"),
        ("put me through to the claims department", "claims"),
        ("speak with someone in claims", "claims"),
        ("I'd like to speak to someone in the claims department about my car", "claims"),
        ("could you patch me through to billing", "billing"),
        ("connect me with the front desk", "front desk"),
        ("get me to the front desk", "front desk"),
        # phone transcripts are imperfect: one letter off still matches
        ("I'd like to talk to clams", "claims"),
        ("transfer me to billng", "billing"),
        ("can you put me through to the frnt desk", "front desk"),
    ],
)
def test_clear_requests_match_their_rule(text: str, keyword: str) -> None:
    rule = match_transfer_request(text, RULES)
    assert rule is not None
    assert rule.keyword == keyword
    assert rule == next(r for r in RULES if r.keyword == keyword)


@pytest.mark.parametrize(
    "text",
    [
        # A report of the past is not a request: "talked" is not "talk".
        "I talked to claims yesterday",
        "I spoke with claims yesterday",
        # A keyword without a request phrase.
        "claims",
        "I have a question about billing",
        # A request phrase without a keyword, or the keyword too far after it.
        "can I speak with someone",
        "speak to a real person about my claims",
        # Not close enough to any keyword, or only part of a multi-word one.
        "talk to james",
        "talk to the front",
        "talk to my desk",
        # Request words used for something else.
        "transfer my policy to my new car",
        "put the claims through",
    ],
)
def test_no_match_without_a_clear_request(text: str) -> None:
    assert match_transfer_request(text, RULES) is None


def test_no_rules_never_match() -> None:
    assert match_transfer_request("talk to claims", ()) is None
    assert match_transfer_request("put me through to the front desk", ()) is None


def test_only_the_tenants_keywords_match() -> None:
    assert match_transfer_request("transfer me to billing", (CLAIMS, FRONT_DESK)) is None
    assert match_transfer_request("transfer me to billing", (BILLING,)) == BILLING


def test_a_multi_word_keyword_matches_only_in_order() -> None:
    assert match_transfer_request("connect me with the front desk", (FRONT_DESK,)) == FRONT_DESK
    assert match_transfer_request("connect me with the desk front", (FRONT_DESK,)) is None


def test_talking_to_the_agent_about_a_claim_is_not_a_transfer_request() -> None:
    assert match_transfer_request("I need to talk to you about my claim", RULES) is None
