"""Transcript PII redaction: payment card numbers and US Social Security numbers. Pure.

Card numbers are 13-19 digits (spaces or dashes allowed between them) that pass the Luhn
check, so policy and claim numbers are left alone; SSNs are ###-##-#### (or nine digits said
right after "social security"/"SSN").
"""

from __future__ import annotations

import re

CARD = "[card number]"
SSN = "[SSN]"

_CARD = re.compile(r"(?<!\d)(?:\d[ -]?){12,18}\d(?!\d)")
_SSN_DASHED = re.compile(r"(?<!\d)\d{3}-\d{2}-\d{4}(?!\d)")
_SSN_SPOKEN = re.compile(
    r"(?i)\b(social security(?: number)?|ssn)(\s*(?:is|:)?\s*)(\d{3}[ -]?\d{2}[ -]?\d{4})(?!\d)"
)


def _luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _card(match: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", match.group(0))
    return CARD if 13 <= len(digits) <= 19 and _luhn(digits) else match.group(0)


def redact(text: str) -> str:
    text = _SSN_SPOKEN.sub(lambda m: f"{m.group(1)}{m.group(2)}{SSN}", text)
    text = _SSN_DASHED.sub(SSN, text)
    return _CARD.sub(_card, text)
