"""The OpenAI HTTP simulator's pure rules: what it extracts from a conversation, that every
answer fits the request's schema whatever the input, and the hashed embeddings."""

from __future__ import annotations

import math
from typing import Any

import jsonschema
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.sim.openai_rules import analyse, extract, hash_embedding, split_speakers
from engine.sim.openai_schema import answer, fit, strict_schema_problem
from memory.extraction import EXTRACTION_SCHEMA, POST_CALL_SCHEMA

CALL = """Agent: Good morning! This is Ava. How can I help you?
Caller: Hi, my name is Dana Whitfield, but call me Dee.
Agent: Hi Dee, what can I do for you?
Caller: My wife Sarah and I just bought a 2019 Honda Civic, VIN 1HGBH41JXMN109186.
Caller: Also my claim number is CLM-48213 for the hail damage, is it still open?
Caller: Our home is at 12 Maple Street and the policy number is HO-55120 for home.
Caller: I prefer text messages in the morning. Please remember that my gate code is 4512.
Caller: Could you email me the claim forms by Friday?
Agent: Of course. I'll call you back tomorrow with an update.
Caller: Thanks, that's great. Bye."""


def test_extracts_what_the_caller_said() -> None:
    caller, agent = split_speakers(CALL)
    items = extract(caller, agent)
    assert items["preferred_name"] == "Dee"
    assert items["people"] == [{"name": "Sarah", "relationship": "wife"}]
    (vehicle,) = items["vehicles"]
    assert (vehicle["year"], vehicle["make"], vehicle["model"]) == (2019, "Honda", "Civic")
    assert vehicle["vin"] == "1HGBH41JXMN109186"
    (claim,) = items["claims"]
    assert claim["claim_number"] == "CLM-48213"
    assert claim["description"] == "hail claim"
    assert claim["status"] == "open"
    assert [p["policy_number"] for p in items["policies"]] == ["HO-55120"]
    assert items["policies"][0]["line"] == "home"
    assert [p["address"] for p in items["properties"]] == ["12 Maple Street"]
    facts = {f["description"]: f["value"] for f in items["facts"]}
    assert facts["gate code"] == "4512"
    assert facts["full name"] == "Dana Whitfield"
    assert items["preferences"][0]["category"] == "contact"
    deadlines = {c["description"]: c["deadline"] for c in items["commitments"]}
    assert deadlines == {"email me the claim forms": "Friday", "call you back": "tomorrow"}


def test_the_agent_does_not_name_the_caller() -> None:
    caller, agent = split_speakers("Agent: This is Ava.\nAgent: My name is Ava.")
    assert extract(caller, agent)["preferred_name"] is None


def test_analysis_is_deterministic_and_fits_the_post_call_schema() -> None:
    first = answer(CALL, POST_CALL_SCHEMA)
    assert first == answer(CALL, POST_CALL_SCHEMA)
    assert first["sentiment"] == "positive"
    assert first["resolution_status"] == "follow_up_needed"
    assert "CLM-48213" in first["summary"]
    assert "claims" in first["key_topics"]
    assert set(first) == set(POST_CALL_SCHEMA["properties"])
    assert answer(CALL, EXTRACTION_SCHEMA)["preferred_name"] == "Dee"


def test_a_frustrated_caller_scores_frustrated() -> None:
    calm = analyse("Caller: Thanks, that was helpful.")["personality"]
    upset = analyse("Caller: I am angry and frustrated, this is unacceptable. I need it ASAP.")[
        "personality"
    ]
    assert upset["frustration"] > 60 > calm["frustration"]
    assert upset["urgency"] > calm["urgency"]


def test_no_caller_speech_is_no_conversation() -> None:
    assert analyse("Agent: Hello? Anyone there?")["resolution_status"] == "no_conversation"


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)

OTHER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "n": {"type": "integer", "minimum": 1, "maximum": 5},
        "maybe": {"anyOf": [{"type": "string"}, {"type": "null"}]},
        "flag": {"type": "boolean"},
        "kind": {"type": "string", "enum": ["a", "b"]},
        "nested": {
            "type": "array",
            "items": {"type": "object", "properties": {"x": {"type": "number"}}, "required": ["x"]},
        },
    },
    "required": ["n", "maybe", "flag", "kind", "nested"],
}


@settings(max_examples=150, deadline=None)
@given(value=_JSON, schema=st.sampled_from([POST_CALL_SCHEMA, EXTRACTION_SCHEMA, OTHER_SCHEMA]))
def test_fit_always_validates(value: Any, schema: dict[str, Any]) -> None:
    jsonschema.Draft202012Validator(schema).validate(fit(schema, value))


def test_strict_mode_rules() -> None:
    assert strict_schema_problem(OTHER_SCHEMA) is not None  # no additionalProperties: false
    loose = {
        "type": "object",
        "properties": {"a": {"type": "string"}},
        "required": [],
        "additionalProperties": False,
    }
    problem = strict_schema_problem(loose)
    assert problem is not None
    assert "required" in problem


def test_hashed_embeddings() -> None:
    a = hash_embedding("My wife Sarah drives a Honda Civic", 384)
    b = hash_embedding("Sarah, the wife, has the Honda", 384)
    c = hash_embedding("quarterly premium invoice overdue", 384)

    def cos(x: list[float], y: list[float]) -> float:
        return sum(p * q for p, q in zip(x, y, strict=True))

    assert len(a) == 384
    assert math.isclose(cos(a, a), 1.0)
    assert cos(a, b) > 0.5 > abs(cos(a, c))
    assert hash_embedding("", 8) == [1.0, 0, 0, 0, 0, 0, 0, 0]
    assert hash_embedding("Honda", 16) == hash_embedding("honda!", 16)
