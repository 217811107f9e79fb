"""Caller verification: is the person on the line the caller whose number this is?

Caller ID proves nothing (it is trivially spoofed), so what the agency remembers about a caller
reaches the model only after the caller has stated identifiers that their profile holds (date
of birth, ZIP code, policy number, last name...). The check is made here, by the engine,
against stored values - never by the model eyeballing them:

- every value is normalised first (dates in any common spelling, ZIP+4, spaces and dashes in
  policy numbers, accents and case in names), so "March 4th 1980" matches "1980-03-04";
- every asked field is compared, in constant time, whether or not an earlier one failed, so
  neither the answer nor its timing says which identifier was wrong;
- attempts are limited per call and per caller (with a cool-down), decided by `gate`.

Pure: no I/O, the clock is passed in.
"""

from __future__ import annotations

import hmac
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta

FIELDS: tuple[str, ...] = ("date_of_birth", "zip_code", "policy_number", "last_name")
FIELD_LABELS: Mapping[str, str] = {
    "date_of_birth": "date of birth",
    "zip_code": "ZIP code",
    "policy_number": "policy number",
    "last_name": "last name",
}

_MONTHS = {
    name: index
    for index, names in enumerate(
        (
            ("january", "jan"),
            ("february", "feb"),
            ("march", "mar"),
            ("april", "apr"),
            ("may",),
            ("june", "jun"),
            ("july", "jul"),
            ("august", "aug"),
            ("september", "sep", "sept"),
            ("october", "oct"),
            ("november", "nov"),
            ("december", "dec"),
        ),
        start=1,
    )
    for name in names
}
_ORDINAL = re.compile(r"(\d+)(st|nd|rd|th)\b")
_NUMERIC_DATE = re.compile(r"^(\d{1,4})[-/. ](\d{1,2})[-/. ](\d{1,4})$")


class VerificationError(ValueError):
    """A value that cannot be read as the identifier it claims to be."""


@dataclass(frozen=True, slots=True)
class VerificationPolicy:
    """A tenant's rule: which identifiers a caller may be asked for, how many must match, how
    many tries a call and a caller get, and whether an unverified caller may be greeted by the
    first name on their profile."""

    required: bool = True
    fields: tuple[str, ...] = ("date_of_birth", "zip_code")
    matches_needed: int = 2
    attempts_per_call: int = 3
    failures_per_caller: int = 5  # within cooldown_s, across calls
    cooldown_s: int = 900
    greet_by_name: bool = True

    def __post_init__(self) -> None:
        unknown = [f for f in self.fields if f not in FIELDS]
        if unknown:
            raise VerificationError(f"unknown identifier(s): {', '.join(unknown)}")
        if not 1 <= self.matches_needed <= max(1, len(self.fields)):
            raise VerificationError("matches_needed must be between 1 and the number of fields")
        if self.attempts_per_call < 1 or self.failures_per_caller < 1 or self.cooldown_s < 0:
            raise VerificationError("attempt limits must be positive")


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def _date(value: str) -> str:
    text = _ORDINAL.sub(r"\1", _fold(value).replace(",", " ")).strip()
    text = re.sub(r"\s+", " ", text)
    match = _NUMERIC_DATE.match(text)
    try:
        if match:
            a, b, c = match.groups()
            if len(a) == 4:  # 1980-03-04
                return date(int(a), int(b), int(c)).isoformat()
            year = int(c) if len(c) == 4 else None
            if year is None:
                raise VerificationError(f"{value!r}: give the year with four digits")
            return date(year, int(a), int(b)).isoformat()  # US order: 03/04/1980
        words = text.split(" ")
        if len(words) == 3:
            if words[0] in _MONTHS:  # march 4 1980
                return date(int(words[2]), _MONTHS[words[0]], int(words[1])).isoformat()
            if words[1] in _MONTHS:  # 4 march 1980
                return date(int(words[2]), _MONTHS[words[1]], int(words[0])).isoformat()
    except ValueError as exc:
        raise VerificationError(f"{value!r} is not a calendar date") from exc
    raise VerificationError(f"{value!r} is not a date")


def normalise(field: str, value: str) -> str:
    """The canonical form of an identifier, as stored and as compared."""
    if field not in FIELDS:
        raise VerificationError(f"unknown identifier {field!r}")
    if not isinstance(value, str) or not value.strip() or len(value) > 200:
        raise VerificationError(f"{FIELD_LABELS[field]} is empty or too long")
    if field == "date_of_birth":
        return _date(value)
    if field == "zip_code":
        digits = re.sub(r"\D", "", value)
        if len(digits) not in (5, 9):
            raise VerificationError(f"{value!r} is not a ZIP code")
        return digits[:5]
    if field == "policy_number":
        folded = re.sub(r"[^0-9a-z]", "", _fold(value))
        if not folded:
            raise VerificationError(f"{value!r} is not a policy number")
        return folded
    folded = re.sub(r"[^a-z]", "", _fold(value))  # last_name
    if not folded:
        raise VerificationError(f"{value!r} is not a name")
    return folded


@dataclass(frozen=True, slots=True)
class Check:
    """The outcome of one verification attempt. `matched` counts fields, never names them."""

    verified: bool
    matched: int
    asked: tuple[str, ...]
    reason: str  # "verified", "mismatch", "unreadable", "too_few", "no_identifiers"


def check(stored: Mapping[str, str], given: Mapping[str, str], policy: VerificationPolicy) -> Check:
    """Compare what the caller said with the profile's stored (normalised) identifiers.

    Only the policy's fields count; a field the profile does not hold cannot match. Every
    asked field is compared with `hmac.compare_digest` whatever the others gave."""
    usable = tuple(f for f in policy.fields if f in stored)
    asked = tuple(f for f in policy.fields if f in given)
    if len(usable) < policy.matches_needed:
        return Check(False, 0, asked, "no_identifiers")
    if len(asked) < policy.matches_needed:
        return Check(False, 0, asked, "too_few")
    matched = 0
    unreadable = False
    for field in asked:
        try:
            value = normalise(field, given[field])
        except VerificationError:
            unreadable = True
            value = ""
        expected = stored.get(field, "")
        # compare_digest runs in time independent of where the strings differ
        if hmac.compare_digest(value.encode(), expected.encode()) and expected:
            matched += 1
    if matched >= policy.matches_needed and matched == len(asked):
        return Check(True, matched, asked, "verified")
    return Check(False, matched, asked, "unreadable" if unreadable else "mismatch")


@dataclass(frozen=True, slots=True)
class Gate:
    """Whether another attempt is allowed now, and if not, until when."""

    allowed: bool
    reason: str  # "ok", "call_limit", "caller_locked"
    retry_at: datetime | None = None


def gate(
    policy: VerificationPolicy,
    *,
    attempts_this_call: int,
    recent_failures: tuple[datetime, ...],
    now: datetime,
) -> Gate:
    """`recent_failures` are the caller's failed attempts (any call), newest or oldest first."""
    if attempts_this_call >= policy.attempts_per_call:
        return Gate(False, "call_limit")
    window = timedelta(seconds=policy.cooldown_s)
    inside = sorted(t for t in recent_failures if now - t < window)
    if len(inside) >= policy.failures_per_caller:
        return Gate(False, "caller_locked", inside[-policy.failures_per_caller] + window)
    return Gate(True, "ok")


@dataclass(frozen=True, slots=True)
class Attempt:
    """What a call learns from one attempt: verified or not, why (never which field was
    wrong), and when a locked-out caller may try again."""

    verified: bool
    reason: (
        str  # verified, mismatch, unreadable, too_few, no_identifiers, call_limit, caller_locked
    )
    retry_at: datetime | None = None


def first_name(preferred_name: str | None) -> str | None:
    """The first word of a preferred name: all an unverified caller may be greeted with."""
    if not preferred_name or not preferred_name.strip():
        return None
    return preferred_name.split()[0]
