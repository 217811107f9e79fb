"""Caller verification: normalised identifiers, every field compared, attempts limited."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from engine.verification import (
    VerificationError,
    VerificationPolicy,
    check,
    first_name,
    gate,
    normalise,
)

NOW = datetime(2026, 12, 4, 19, 0, tzinfo=UTC)
STORED = {"date_of_birth": "1980-03-04", "zip_code": "94110", "last_name": "nunez"}
POLICY = VerificationPolicy(fields=("date_of_birth", "zip_code"), matches_needed=2)


@pytest.mark.parametrize(
    "spoken",
    ["1980-03-04", "03/04/1980", "3/4/1980", "March 4th, 1980", "4 March 1980", "mar 4 1980"],
)
def test_a_date_of_birth_matches_in_any_common_spelling(spoken: str) -> None:
    assert normalise("date_of_birth", spoken) == "1980-03-04"


@pytest.mark.parametrize(
    ("field", "spoken", "stored"),
    [
        ("zip_code", "94110-1234", "94110"),
        ("zip_code", " 9 4 1 1 0 ", "94110"),
        ("policy_number", "pa-0042 17", "pa004217"),
        ("last_name", "Núñez", "nunez"),
        ("last_name", "O'Brien-Smith", "obriensmith"),
    ],
)
def test_identifiers_are_normalised_before_they_are_compared(
    field: str, spoken: str, stored: str
) -> None:
    assert normalise(field, spoken) == stored


@pytest.mark.parametrize(
    ("field", "spoken"),
    [
        ("date_of_birth", "last tuesday"),
        ("date_of_birth", "02/30/1980"),
        ("date_of_birth", "3/4/80"),
        ("zip_code", "9411"),
        ("policy_number", "---"),
        ("last_name", "123"),
        ("last_name", ""),
        ("last_name", "x" * 201),
        ("favourite_colour", "blue"),
    ],
)
def test_unreadable_identifiers_are_refused_with_a_clear_error(field: str, spoken: str) -> None:
    with pytest.raises(VerificationError):
        normalise(field, spoken)


def test_the_right_identifiers_verify_the_caller() -> None:
    result = check(STORED, {"date_of_birth": "March 4, 1980", "zip_code": "94110"}, POLICY)
    assert result.verified
    assert result.reason == "verified"


@pytest.mark.parametrize(
    ("given", "reason"),
    [
        ({"date_of_birth": "1980-03-05", "zip_code": "94110"}, "mismatch"),
        ({"date_of_birth": "1980-03-04", "zip_code": "10001"}, "mismatch"),
        ({"date_of_birth": "1980-03-04"}, "too_few"),
        ({"date_of_birth": "someday", "zip_code": "94110"}, "unreadable"),
        ({}, "too_few"),
    ],
)
def test_wrong_missing_or_unreadable_identifiers_do_not_verify(
    given: dict[str, str], reason: str
) -> None:
    result = check(STORED, given, POLICY)
    assert not result.verified
    assert result.reason == reason


def test_a_field_outside_the_policy_counts_for_nothing() -> None:
    result = check(STORED, {"last_name": "Nunez", "date_of_birth": "1980-03-04"}, POLICY)
    assert not result.verified
    assert result.asked == ("date_of_birth",)


def test_a_profile_without_the_identifiers_cannot_be_verified() -> None:
    result = check(
        {"last_name": "nunez"}, {"date_of_birth": "1980-03-04", "zip_code": "94110"}, POLICY
    )
    assert (result.verified, result.reason) == (False, "no_identifiers")


def test_attempts_are_limited_per_call() -> None:
    assert gate(POLICY, attempts_this_call=2, recent_failures=(), now=NOW).allowed
    stop = gate(POLICY, attempts_this_call=3, recent_failures=(), now=NOW)
    assert (stop.allowed, stop.reason) == (False, "call_limit")


def test_a_caller_with_too_many_recent_failures_is_locked_until_the_cooldown_ends() -> None:
    failures = tuple(NOW - timedelta(minutes=m) for m in (1, 2, 3, 4, 14))
    locked = gate(POLICY, attempts_this_call=0, recent_failures=failures, now=NOW)
    assert (locked.allowed, locked.reason) == (False, "caller_locked")
    assert locked.retry_at == NOW - timedelta(minutes=14) + timedelta(seconds=POLICY.cooldown_s)
    later = gate(POLICY, attempts_this_call=0, recent_failures=failures, now=locked.retry_at)
    assert later.allowed


def test_a_policy_that_can_never_be_met_is_refused() -> None:
    with pytest.raises(VerificationError):
        VerificationPolicy(fields=("zip_code",), matches_needed=2)
    with pytest.raises(VerificationError):
        VerificationPolicy(fields=("shoe_size",))


def test_only_the_first_name_may_greet_an_unverified_caller() -> None:
    assert first_name("Dana Whitfield") == "Dana"
    assert first_name("  ") is None
    assert first_name(None) is None
