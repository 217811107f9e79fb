"""The OpenAI HTTP simulator's answers, as pure functions (no I/O).

Chat completions with a JSON schema are answered deterministically from the conversation
text with simple extraction rules - names after "my name is", "my wife Sarah", "2019 Honda
Civic", claim and policy numbers, addresses, "I prefer ...", "remember that ...", promises with
deadlines - so that memory tests recall something real. The extracted facts are then fitted to
whatever schema the request carries (`fit`), so every answer validates against the request's
schema, known or not. Embeddings are hashed bags of words: deterministic, normalised, and
texts sharing words are close, which is all a recall test needs.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Sequence
from typing import Any

from prompts.personality import PERSONALITY_TRAITS

_WORD = re.compile(r"[a-z0-9]+")


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


_STOPWORDS = _words(
    "a an and are as at be but by for from has have i if in is it its me my of on or our "
    "so that the their them they this to was we were what when with you your"
)
_NAME = r"([A-Z][a-z]+(?:[-'][A-Z][a-z]+)?)"
_NOT_NAMES = _words(
    "Not Just Calling Looking Sorry Fine Good Here So Okay Ok Really Very The Sure Well Yes No "
    "Glad Happy Trying Still Also Actually Wondering Interested"
)
_MY_NAME = re.compile(r"\b(?:[Mm]y name is|[Mm]y name's|[Tt]his is|I am|I'm)\s+" + _NAME)
_FULL_NAME = re.compile(r"\b(?:[Mm]y name is|[Mm]y name's)\s+" + _NAME + r"\s+" + _NAME)
_CALL_ME = re.compile(r"\b(?:call me|[Gg]o by)\s+" + _NAME)
_RELATIONS = (
    "wife|husband|spouse|partner|son|daughter|mother|father|mom|dad|brother|sister|boss|"
    "fiancee|fiance|grandson|granddaughter|grandmother|grandfather"
)
_PERSON = re.compile(
    r"\b[Mm]y\s+("
    + _RELATIONS
    + r")(?:'s name is |, | is named | named | is called | called | is |\s)"
    + _NAME
)
_VEHICLE = re.compile(r"\b((?:19|20)\d{2})\s+([A-Z][a-zA-Z]+)\s+([A-Z0-9][a-zA-Z0-9-]*)")
_VIN = re.compile(r"\bVIN\s*(?:is|:|number is)?\s*([A-HJ-NPR-Z0-9]{17})\b")
_NUMBERED = r"\s*(?:number|no\.?|#)?\s*(?:is\s*)?#?\s*([A-Z0-9][A-Z0-9-]{3,}[A-Z0-9])"
_CLAIM = re.compile(r"\bclaim" + _NUMBERED, re.IGNORECASE)
_POLICY = re.compile(r"\bpolicy" + _NUMBERED, re.IGNORECASE)
_ADDRESS = re.compile(
    r"\b(\d{1,6}\s+[A-Z][a-z]+(?:\s+[A-Z][a-z]+)*\s+"
    r"(?:Street|St|Avenue|Ave|Road|Rd|Lane|Ln|Drive|Dr|Court|Ct|Boulevard|Blvd|Way|Place|Pl))\b"
)
_PREFER = re.compile(r"\bI (?:prefer|would prefer|'d prefer|would rather|'d rather)\s+([^.!?]+)")
_REMEMBER = re.compile(r"\b[Rr]emember that\s+([^.!?]+)")
_MY_FACT = re.compile(
    r"\b[Mm]y (birthday|date of birth|email|email address|employer|occupation|job|anniversary)"
    r" is\s+([^.!?]+)"
)
_IS = re.compile(r"^(.+?)\s+(?:is|are|was|will be)\s+(.+)$")
_DEADLINE = (
    r"(?:(?:by|before|on|until)\s+)?((?:next\s+)?(?:Monday|Tuesday|Wednesday|Thursday|Friday|"
    r"Saturday|Sunday|week|month)|tomorrow|tonight|end of (?:the )?(?:day|week|month)|"
    r"[A-Z][a-z]+ \d{1,2}(?:st|nd|rd|th)?)"
)
_ASK = re.compile(
    r"\b(?:[Cc]an|[Cc]ould|[Ww]ould) you (?:please )?((?:call|email|text|send|mail)\s[^.!?]*?)\s+"
    + _DEADLINE
)
_PROMISE = re.compile(
    r"\bI(?:'ll| will) ((?:call|email|text|send|mail|get back|follow up)[^.!?]*?)\s+" + _DEADLINE
)
_SENTENCE = re.compile(r"[^.!?]+[.!?]?")

_NEGATIVE = (
    "angry",
    "frustrated",
    "upset",
    "annoyed",
    "terrible",
    "unacceptable",
    "ridiculous",
    "worried",
    "disappointed",
    "awful",
)
_POSITIVE = (
    "thanks",
    "thank you",
    "great",
    "perfect",
    "appreciate",
    "wonderful",
    "awesome",
    "excellent",
    "helpful",
)
_URGENT = ("urgent", "asap", "right away", "immediately", "emergency", "as soon as possible")
_FORMAL = ("please", "sir", "ma'am", "thank you", "would you", "could you")
_CASUAL = ("yeah", "gonna", "hey", "wanna", "yep", "nope", "cool")
_TOPICS = (
    ("claim", "claims"),
    ("accident", "accident"),
    ("policy", "policy"),
    ("car", "auto"),
    ("vehicle", "auto"),
    ("truck", "auto"),
    ("house", "home"),
    ("home", "home"),
    ("condo", "home"),
    ("bill", "billing"),
    ("payment", "billing"),
    ("quote", "quote"),
    ("coverage", "coverage"),
    ("deductible", "coverage"),
    ("address", "address change"),
)
_LINES = ("auto", "home", "renters", "life", "umbrella", "business", "motorcycle", "boat")
_CLAIM_WORDS = (
    "hail",
    "accident",
    "collision",
    "theft",
    "stolen",
    "fire",
    "flood",
    "water damage",
    "storm",
    "vandalism",
    "break-in",
    "hit",
)
_PROPERTY_KINDS = ("house", "condo", "apartment", "townhouse", "cabin", "rental", "home")


# --- embeddings ---------------------------------------------------------------------------------


def hash_embedding(text: str, dimensions: int) -> list[float]:
    """A normalised hashed bag of words (stop words left out); never the zero vector."""
    vector = [0.0] * dimensions
    for word in _WORD.findall(text.lower()):
        if word in _STOPWORDS:
            continue
        digest = hashlib.blake2b(word.encode(), digest_size=8).digest()
        index = int.from_bytes(digest[:4], "little") % dimensions
        vector[index] += 1.0 if digest[4] & 1 else -1.0
    norm = math.sqrt(sum(x * x for x in vector))
    if norm == 0.0:
        vector[0] = 1.0
        return vector
    return [x / norm for x in vector]


def token_count(text: str) -> int:
    return max(1, len(text) // 4)


# --- conversation ------------------------------------------------------------------------------


def split_speakers(text: str) -> tuple[list[str], list[str]]:
    """(caller lines, agent lines) of a 'Caller: ... / Agent: ...' transcript; text without
    speaker labels counts as the caller's."""
    caller: list[str] = []
    agent: list[str] = []
    labelled = False
    for line in text.splitlines():
        head, sep, rest = line.partition(":")
        who = head.strip().lower()
        if sep and who in ("caller", "user", "customer"):
            caller.append(rest.strip())
            labelled = True
        elif sep and who in ("agent", "assistant"):
            agent.append(rest.strip())
            labelled = True
    if not labelled:
        caller = [line.strip() for line in text.splitlines() if line.strip()]
    return caller, agent


def _sentence_with(text: str, start: int) -> str:
    for match in _SENTENCE.finditer(text):
        if match.start() <= start < match.end():
            return match.group().strip()
    return text.strip()


def _count(text: str, words: Sequence[str]) -> int:
    lower = text.lower()
    return sum(len(re.findall(r"\b" + re.escape(w) + r"\b", lower)) for w in words)


def _clamp(value: float) -> int:
    return int(max(0, min(100, round(value))))


def extract(caller_lines: Sequence[str], agent_lines: Sequence[str] = ()) -> dict[str, Any]:
    """Facts the rules find in what the caller said (and promises in what the agent said)."""
    people: dict[str, dict[str, Any]] = {}
    vehicles: dict[str, dict[str, Any]] = {}
    claims: dict[str, dict[str, Any]] = {}
    policies: dict[str, dict[str, Any]] = {}
    properties: dict[str, dict[str, Any]] = {}
    facts: dict[str, dict[str, Any]] = {}
    preferences: dict[str, dict[str, Any]] = {}
    commitments: dict[str, dict[str, Any]] = {}
    # "Call me X" beats "my name is X"; the first name given is the one that counts.
    called = [m.group(1) for line in caller_lines for m in _CALL_ME.finditer(line)]
    named = [
        m.group(1)
        for line in caller_lines
        for m in _MY_NAME.finditer(line)
        if m.group(1) not in _NOT_NAMES
    ]
    preferred = called[-1] if called else (named[0] if named else None)
    for line in caller_lines:
        for m in _FULL_NAME.finditer(line):
            facts["full name"] = {"description": "full name", "value": f"{m.group(1)} {m.group(2)}"}
        for m in _PERSON.finditer(line):
            if m.group(2) not in _NOT_NAMES:
                people[m.group(1).lower()] = {
                    "name": m.group(2),
                    "relationship": m.group(1).lower(),
                }
        vins = [m.group(1) for m in _VIN.finditer(line)]
        for m in _VEHICLE.finditer(line):
            key = f"{m.group(1)} {m.group(2)} {m.group(3)}".lower()
            vehicles[key] = {
                "year": int(m.group(1)),
                "make": m.group(2),
                "model": m.group(3),
                "vin": vins[0] if vins else None,
                "notes": None,
            }
        for m in _CLAIM.finditer(line):
            number = m.group(1).upper()
            if not any(c.isdigit() for c in number):
                continue
            sentence = _sentence_with(line, m.start())
            what = next((w for w in _CLAIM_WORDS if w in sentence.lower()), None)
            status = next(
                (
                    s
                    for s in ("open", "filed", "paid", "denied", "closed")
                    if re.search(r"\b" + s + r"\b", sentence.lower())
                ),
                None,
            )
            claims[number] = {
                "claim_number": number,
                "description": f"{what} claim" if what else "insurance claim",
                "status": status,
                "date": None,
            }
        for m in _POLICY.finditer(line):
            number = m.group(1).upper()
            if not any(c.isdigit() for c in number):
                continue
            sentence = _sentence_with(line, m.start()).lower()
            policies[number] = {
                "policy_number": number,
                "line": next((w for w in _LINES if w in sentence), "unknown"),
                "carrier": None,
                "status": "active" if "active" in sentence else None,
            }
        for m in _ADDRESS.finditer(line):
            sentence = _sentence_with(line, m.start()).lower()
            properties[m.group(1).lower()] = {
                "address": m.group(1),
                "kind": next((k for k in _PROPERTY_KINDS if k in sentence), "home"),
                "notes": None,
            }
        for m in _PREFER.finditer(line):
            text = m.group(1).strip()
            lower = text.lower()
            if any(w in lower for w in ("call", "text", "email", "phone", "sms", "mail")):
                category = "contact"
            elif any(w in lower for w in ("morning", "afternoon", "evening", "weekend", "weekday")):
                category = "schedule"
            else:
                category = "general"
            preferences[category] = {"category": category, "preference": f"prefers {text}"}
        for m in _MY_FACT.finditer(line):
            facts[m.group(1).lower()] = {
                "description": m.group(1).lower(),
                "value": m.group(2).strip(),
            }
        for m in _REMEMBER.finditer(line):
            clause = m.group(1).strip()
            split = _IS.match(clause)
            if split:
                description = re.sub(r"^(?:my|our|the)\s+", "", split.group(1).strip().lower())
                facts[description] = {"description": description, "value": split.group(2).strip()}
            else:
                facts[clause.lower()] = {"description": clause.lower(), "value": clause}
        for m in _ASK.finditer(line):
            commitments[m.group(1).lower()] = {
                "description": m.group(1).strip(),
                "deadline": m.group(2),
                "owner": "agency",
            }
    for line in agent_lines:
        for m in _PROMISE.finditer(line):
            commitments[m.group(1).lower()] = {
                "description": m.group(1).strip(),
                "deadline": m.group(2),
                "owner": "agency",
            }
    return {
        "preferred_name": preferred,
        "people": list(people.values()),
        "facts": list(facts.values()),
        "preferences": list(preferences.values()),
        "commitments": list(commitments.values()),
        "vehicles": list(vehicles.values()),
        "policies": list(policies.values()),
        "claims": list(claims.values()),
        "properties": list(properties.values()),
    }


def analyse(text: str) -> dict[str, Any]:
    """Everything the simulator can say about a conversation, under the names the engine's
    schemas use; `fit` keeps what a given schema asks for."""
    caller_lines, agent_lines = split_speakers(text)
    caller = " ".join(caller_lines)
    agent = " ".join(agent_lines)
    items = extract(caller_lines, agent_lines)
    topics: list[str] = []
    for word, topic in _TOPICS:
        if re.search(r"\b" + word, caller.lower()) and topic not in topics:
            topics.append(topic)
    negative, positive = _count(caller, _NEGATIVE), _count(caller, _POSITIVE)
    urgent = _count(caller, _URGENT)
    if not caller.strip():
        sentiment, resolution = "neutral", "no_conversation"
    else:
        if positive > negative:
            sentiment = "positive"
        elif negative > positive:
            sentiment = "negative"
        else:
            sentiment = "mixed" if positive else "neutral"
        if items["commitments"]:
            resolution = "follow_up_needed"
        elif "transfer" in agent.lower():
            resolution = "transferred"
        elif positive and caller_lines and _count(caller_lines[-1], (*_POSITIVE, "bye")) > 0:
            resolution = "resolved"
        else:
            resolution = "unresolved"
    who = f"The caller, {items['preferred_name']}," if items["preferred_name"] else "The caller"
    about = ", ".join(topics[:4]) if topics else "a general question"
    details = [f"{p['relationship']} {p['name']}" for p in items["people"]]
    details += [f"{v['year']} {v['make']} {v['model']}" for v in items["vehicles"]]
    details += [f"claim {c['claim_number']}" for c in items["claims"]]
    details += [f"policy {p['policy_number']}" for p in items["policies"]]
    summary = f"{who} called about {about}."
    if details:
        summary += " Mentioned: " + "; ".join(details) + "."
    summary += f" Outcome: {resolution.replace('_', ' ')}."
    words = len(caller.split())
    lines = max(1, len(caller_lines))
    personality = dict.fromkeys(PERSONALITY_TRAITS, 50)
    personality.update(
        frustration=_clamp(30 + 15 * negative - 5 * positive),
        satisfaction=_clamp(50 + 12 * positive - 12 * negative),
        urgency=_clamp(35 + 20 * urgent),
        formality=_clamp(50 + 8 * _count(caller, _FORMAL) - 10 * _count(caller, _CASUAL)),
        detail_orientation=_clamp(30 + 2 * words / lines),
        patience=_clamp(60 - 10 * negative - 5 * urgent),
        neuroticism=_clamp(45 + 8 * negative),
        agreeableness=_clamp(50 + 6 * positive - 6 * negative),
    )
    return {
        "summary": summary,
        "key_topics": topics[:6],
        "sentiment": sentiment,
        "resolution_status": resolution,
        "key_variables": items,
        "personality": personality,
        **items,
    }
