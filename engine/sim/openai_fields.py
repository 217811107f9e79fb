"""The OpenAI HTTP simulator as a model filling a described form from a conversation. Pure.

For an `anyOf` of described options (the post-call job's call templates): `choose_option`
picks the option whose description shares the most words with what the caller said (the
option with the fewest properties - "none" - when nothing matches), and `fill_option` fills
its fields from the caller's words by what each field's name and description ask for: policy
and claim numbers, a vehicle, a date, a place, an amount, an email, a name, a choice named in
the call, a yes or no (a sentence on the subject, negated or not), else the sentence on the
subject. A field the call says nothing about is null, as a model leaves it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from engine.sim.openai_rules import split_speakers

_WORD = re.compile(r"[a-z]+")
_IGNORED = frozenset(
    " ".join(
        (
            "a an and or the to of for in on at by is are was be it its as with from that this",
            "about caller calls call asks wants their them they any some someone something",
            "insurance none other options fits",
        )
    ).split(" ")
)
_SENTENCE = re.compile(r"[^.!?]+[.!?]?")
_NEGATION = re.compile(
    r"\b(?:no|not|nobody|nothing|never|none|without|didn't|wasn't|isn't|"
    r"weren't|hasn't|haven't|don't|won't|can't|couldn't)\b|n't\b",
    re.IGNORECASE,
)
_NUMBER = r"\s*(?:number|no\.?|#)?\s*(?:is\s*)?#?\s*([A-Z0-9][A-Z0-9-]{3,}[A-Z0-9])"
_PATTERNS = {
    "policy": re.compile(r"\bpolicy" + _NUMBER, re.IGNORECASE),
    "claim": re.compile(r"\bclaim" + _NUMBER, re.IGNORECASE),
    "vehicle": re.compile(r"\b((?:19|20)\d{2}\s+[A-Z][a-zA-Z]+\s+[A-Z0-9][a-zA-Z0-9-]*)"),
    "email": re.compile(r"\b([\w.+-]+@[\w-]+(?:\.[\w-]+)+)"),
    "amount": re.compile(r"\$\s?(\d[\d,]*(?:\.\d{2})?)"),
    "name": re.compile(r"\b(?:[Mm]y name is|[Tt]his is)\s+([A-Z][a-z]+(?:\s+[A-Z][a-z]+)?)"),
    "date": re.compile(
        r"\b(yesterday|today|this morning|last night|tonight|tomorrow|"
        r"(?:last|next|on|this)\s+(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)|"
        r"(?:January|February|March|April|May|June|July|August|September|October|November|"
        r"December)\s+\d{1,2}(?:st|nd|rd|th)?|\d{4}-\d{2}-\d{2}|\d{1,2}/\d{1,2}(?:/\d{2,4})?)\b"
    ),
    "place": re.compile(
        r"\b(\d{1,6}\s+[A-Z][a-z]+(?:\s+[A-Z][a-z]+)*\s+(?:Street|St|Avenue|Ave|Road|Rd|Lane|"
        r"Drive|Boulevard|Way|Court)|(?:on|at|near)\s+(?:the\s+)?(?:I-\d+|[A-Z][\w-]*"
        r"(?:\s+(?:and\s+)?[A-Z0-9][\w-]*){0,4}))"
    ),
}
# what a field's name or description asks for -> the pattern that finds it
_ASKS = (
    ("policy number", "policy"),
    ("claim number", "claim"),
    ("vehicle", "vehicle"),
    ("email", "email"),
    ("amount", "amount"),
    ("dollars", "amount"),
    ("name", "name"),
    ("date", "date"),
    ("when", "date"),
    ("where", "place"),
    ("place", "place"),
    ("location", "place"),
)


def _words(text: str) -> set[str]:
    return {w[:5] for w in _WORD.findall(text.lower()) if w not in _IGNORED and len(w) > 2}


def _caller(text: str) -> str:
    return " ".join(split_speakers(text)[0])


def choose_option(options: Sequence[Mapping[str, Any]], text: str) -> Mapping[str, Any]:
    """The option whose description the caller's words match best."""
    said = _words(_caller(text))
    scores = [len(_words(str(o.get("description", ""))) & said) for o in options]
    best = max(scores)
    if best == 0:
        return min(options, key=lambda o: len(o.get("properties", {})))
    return options[scores.index(best)]


def fill_option(option: Mapping[str, Any], text: str) -> dict[str, Any]:
    """The option's properties: its discriminator's one value, its fields from the call."""
    caller = _caller(text)
    out: dict[str, Any] = {}
    for name, sub in option.get("properties", {}).items():
        if len(sub.get("enum", ())) == 1:
            out[name] = sub["enum"][0]
        elif "properties" in sub:
            out[name] = {f: field_value(f, s, caller) for f, s in sub["properties"].items()}
    return out


def _subject_sentence(name: str, caller: str) -> str | None:
    stems = {w[:5] for w in _WORD.findall(name.replace("_", " ").lower()) if len(w) > 3}
    stems -= {"reque", "numbe"}  # "photos_requested": the photos are the subject
    for match in _SENTENCE.finditer(caller):
        sentence = match.group().strip()
        if stems & {w[:5] for w in _WORD.findall(sentence.lower())}:
            return sentence
    return None


def field_value(name: str, schema: Mapping[str, Any], caller: str) -> Any:
    """One field's value from the caller's words, or None when they did not say."""
    types = schema.get("type", [])
    kinds = types if isinstance(types, list) else [types]
    asked = f"{name.replace('_', ' ')} {schema.get('description', '')}".lower()
    if "enum" in schema:
        lower = caller.lower()
        return next((o for o in schema["enum"] if o is not None and o.lower() in lower), None)
    if "boolean" in kinds:
        sentence = _subject_sentence(name, caller)
        return None if sentence is None else not _NEGATION.search(sentence)
    for phrase, kind in _ASKS:
        if phrase in asked:
            found = _PATTERNS[kind].search(caller)
            if found is None:
                return None
            value = found.group(1).strip()
            if "number" in kinds:
                return float(value.replace(",", ""))
            return value.upper() if kind in ("policy", "claim") else value
    if "number" in kinds or "integer" in kinds:
        return None
    return _subject_sentence(name, caller)
