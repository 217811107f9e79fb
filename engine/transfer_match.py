"""Spotting a clear transfer request in what the caller said ("can I talk to claims"). Pure.

A fallback for when the model does not call `transfer_call` after an unmistakable request:
a request phrase followed, within a few words, by one of the tenant's rule keywords, allowing
small misspellings (transcripts of phone audio are imperfect).
"""

from __future__ import annotations

import re
from difflib import SequenceMatcher

from engine.config import TransferRule

_REQUEST = re.compile(
    r"\b(talk|speak|transfer|connect|put|get|reach|patch)\b"
    r"(\s+\w+){0,3}?\s+\b(to|with|through)\b",
    re.IGNORECASE,
)
_WORD = re.compile(r"[a-z0-9']+")
MIN_SIMILARITY = 0.8
_THE_AGENT = frozenset({"you", "u", "yourself", "ya"})


def _similar(a: str, b: str) -> bool:
    return a == b or SequenceMatcher(None, a, b).ratio() >= MIN_SIMILARITY


def match_transfer_request(text: str, rules: tuple[TransferRule, ...]) -> TransferRule | None:
    """The rule the caller clearly asked for, or None."""
    if not rules:
        return None
    for request in _REQUEST.finditer(text):
        tail = _WORD.findall(text[request.end() :].lower())[:5]
        if tail and tail[0] in _THE_AGENT:
            continue  # "talk to you about my claim" is talking to the agent
        for rule in rules:
            keyword = _WORD.findall(rule.keyword.lower())
            if not keyword:
                continue
            n = len(keyword)
            for i in range(len(tail) - n + 1):
                if all(_similar(w, k) for w, k in zip(tail[i : i + n], keyword, strict=True)):
                    return rule
    return None
