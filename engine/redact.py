"""PII redaction of a call's words: payment card numbers, US Social Security numbers, dates of
birth, policy and account numbers. Pure.

Card numbers are 13-19 digits (spaces or dashes allowed between them) that pass the Luhn
check; SSNs are ###-##-#### (or nine digits said right after "social security"/"SSN"). A date
of birth, a policy number or an account number is recognised by what is said just before it
("born on", "date of birth", "policy number", "account number"...), so other dates (of an
accident) and claim or phone numbers are left alone: the agency needs those to help.
"""

from __future__ import annotations

import re

CARD = "[card number]"
SSN = "[SSN]"
BIRTH_DATE = "[date of birth]"
POLICY = "[policy number]"
ACCOUNT = "[account number]"

_CARD = re.compile(r"(?<!\d)(?:\d[ -]?){12,18}\d(?!\d)")
_SSN_DASHED = re.compile(r"(?<!\d)\d{3}-\d{2}-\d{4}(?!\d)")
_SSN_SPOKEN = re.compile(
    r"(?i)\b(social security(?: number)?|ssn)(\s*(?:is|:)?\s*)(\d{3}[ -]?\d{2}[ -]?\d{4})(?!\d)"
)
_MONTH = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|"
    r"sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?"
)
_DAY = r"\d{1,2}(?:st|nd|rd|th)?"
_DATE = (
    rf"(?:{_MONTH}\s+{_DAY},?\s+\d{{4}}|{_DAY}(?:\s+of)?\s+{_MONTH},?\s+\d{{4}}"
    r"|\d{1,2}[/.-]\d{1,2}[/.-]\d{2,4}|\d{4}-\d{1,2}-\d{1,2})"
)
_BIRTH = re.compile(
    rf"(?i)\b(date of birth|birth ?date|birthday|d\.?o\.?b\.?|born(?: on)?)(\s*(?:is|was|:)?\s*)"
    rf"({_DATE})"
)
# an identifier: an optional letter prefix, then digits (dashes, or spaces between digits)
_ID = r"(?:[A-Z]{1,4}[ -]?)?\d(?:[\d-]|\s(?=\d)){3,24}[A-Z]?"
_POLICY = re.compile(rf"(?i)\b(policy(?: number| no\.?| #|#)?)(\s*(?:is|:)?\s*)({_ID})(?![A-Z0-9])")
_ACCOUNT = re.compile(
    rf"(?i)\b((?:account|acct|routing|member)(?: number| no\.?| #|#)?)(\s*(?:is|:)?\s*)"
    rf"({_ID})(?![A-Z0-9])"
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
    text = _BIRTH.sub(lambda m: f"{m.group(1)}{m.group(2)}{BIRTH_DATE}", text)
    text = _POLICY.sub(lambda m: f"{m.group(1)}{m.group(2)}{POLICY}", text)
    text = _ACCOUNT.sub(lambda m: f"{m.group(1)}{m.group(2)}{ACCOUNT}", text)
    return _CARD.sub(_card, text)
