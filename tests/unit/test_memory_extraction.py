"""From the LLM's schema-valid answer to keyed memories: parsing, stable keys, rendering,
transcripts and digests; the schemas pass OpenAI's strict-mode rules."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import jsonschema
import pytest

from engine.sim.openai_schema import strict_schema_problem
from memory.call_records import Turn
from memory.extracted import Claim, Extracted, Person, Vehicle, parse_extracted, parse_post_call
from memory.extraction import (
    EXTRACTION_SCHEMA,
    POST_CALL_SCHEMA,
    transcript,
    turns_digest,
)
from memory.memory_keys import (
    memory_writes,
    person_key,
    render_value,
    slug,
    vehicle_key,
)
from prompts.personality import PERSONALITY_TRAITS

AT = datetime(2025, 3, 4, 15, 30, tzinfo=UTC)


def empty_items() -> dict[str, object]:
    return {
        "preferred_name": None,
        "people": [],
        "facts": [],
        "preferences": [],
        "commitments": [],
        "vehicles": [],
        "policies": [],
        "claims": [],
        "properties": [],
    }


def test_schemas_meet_strict_structured_output_rules() -> None:
    assert strict_schema_problem(EXTRACTION_SCHEMA) is None
    assert strict_schema_problem(POST_CALL_SCHEMA) is None
    jsonschema.Draft202012Validator.check_schema(POST_CALL_SCHEMA)
    jsonschema.Draft202012Validator(EXTRACTION_SCHEMA).validate(empty_items())


@pytest.mark.parametrize(
    ("relationship", "name", "key"),
    [
        ("wife", "Sarah", "spouse"),
        ("Husband", "Tom", "spouse"),
        ("partner", "Alex", "spouse"),
        ("mom", "Ann", "mother"),
        ("son", "Jake", "son:jake"),
        ("son", "Tom", "son:tom"),
        ("", "Rita", "contact:rita"),
    ],
)
def test_person_keys_name_the_relationship_not_the_phrasing(
    relationship: str, name: str, key: str
) -> None:
    assert person_key(Person(name, relationship)) == key


def test_a_spouse_renamed_is_the_same_memory() -> None:
    first = memory_writes(Extracted(people=(Person("Sarah", "wife"),)))
    second = memory_writes(Extracted(people=(Person("Sara", "wife"),)))
    assert [(w.type, w.key) for w in first] == [(w.type, w.key) for w in second]
    assert first[0].value != second[0].value


def test_vehicle_and_claim_keys() -> None:
    civic = Vehicle(2019, "Honda", "Civic", None, None)
    assert vehicle_key(civic) == "2019-honda-civic"
    assert vehicle_key(Vehicle(2019, "honda", "CIVIC", None, "red")) == "2019-honda-civic"
    assert vehicle_key(Vehicle(None, "Ford", "F-150", "1FTFW1E5XPKE12345", None)).startswith("vin:")
    writes = memory_writes(
        Extracted(claims=(Claim("CLM-48213", "hail damage", "open", None),), vehicles=(civic,))
    )
    by_type = {w.type: w for w in writes}
    assert by_type["claim"].key == "number:clm-48213"
    assert by_type["claim"].content == "claim CLM-48213: hail damage (open)"
    assert by_type["vehicle"].content == "2019 Honda Civic"


def test_a_key_repeated_in_one_answer_is_stored_once_with_the_last_value() -> None:
    items = parse_extracted(
        {
            **empty_items(),
            "people": [
                {"name": "Sarah", "relationship": "wife"},
                {"name": "Sarah Jane", "relationship": "wife"},
            ],
            "facts": [
                {"description": "Gate code", "value": "4512"},
                {"description": "gate  code", "value": "4513"},
            ],
        }
    )
    writes = memory_writes(items)
    assert sorted((w.type, w.key) for w in writes) == [("fact", "gate-code"), ("person", "spouse")]
    assert {w.key: w.value for w in writes}["gate-code"] == {
        "description": "gate code",
        "value": "4513",
    }


def test_blank_items_are_dropped_and_commitments_expire() -> None:
    items = parse_extracted(
        {
            **empty_items(),
            "preferred_name": "  ",
            "people": [{"name": " ", "relationship": "wife"}],
            "commitments": [
                {"description": "send the ID cards", "deadline": "Friday", "owner": "agency"}
            ],
        }
    )
    assert items.preferred_name is None
    assert items.people == ()
    (write,) = memory_writes(items)
    assert write.type == "commitment"
    assert write.ttl_days is not None
    assert write.content == "we promised: send the ID cards (by Friday)"


def test_post_call_answer_is_clamped_and_defaulted() -> None:
    data = {
        "summary": "  Dana   called about a claim. ",
        "key_topics": ["claims", "", "auto"],
        "sentiment": "ecstatic",
        "resolution_status": "resolved",
        "key_variables": {**empty_items(), "preferred_name": "Dana"},
        "personality": {**dict.fromkeys(PERSONALITY_TRAITS, 50), "urgency": 140, "patience": -3},
    }
    analysis = parse_post_call(data)
    assert analysis.summary == "Dana called about a claim."
    assert analysis.key_topics == ("claims", "auto")
    assert analysis.sentiment == "neutral"
    scores = dict(analysis.personality)
    assert scores["urgency"] == 100.0
    assert scores["patience"] == 0.0
    assert analysis.key_variables() == {"preferred_name": "Dana"}


def test_render_value() -> None:
    assert render_value("note", "  gate   code 4512 ") == "gate code 4512"
    assert render_value("fact", {"a": 1, "b": None, "c": "x  y"}) == "a: 1; c: x y"
    with pytest.raises(TypeError):
        render_value("fact", 3)


def test_slug() -> None:
    assert slug("  Date of Birth! ") == "date-of-birth"
    assert slug("x" * 200) == "x" * 80


def test_transcript_labels_roles_and_keeps_both_ends_when_long() -> None:
    turns = [
        Turn(1, "agent", "Hi, this is Ava.", AT),
        Turn(0, "system", "ignored", AT),
        Turn(2, "caller", "My name is   Dana.", AT),
        Turn(3, "dtmf", "1", AT),
    ]
    assert transcript(turns) == "Agent: Hi, this is Ava.\nCaller: My name is Dana.\nKeypad: 1"
    long = [Turn(i, "caller", f"line {i} " + "x" * 50, AT) for i in range(100)]
    text = transcript(long, limit=1000)
    assert len(text) <= 1000
    assert text.startswith("Caller: line 0 ")
    assert text.endswith("x" * 50)
    assert "[...]" in text


def test_digest_depends_on_the_turns_not_their_order() -> None:
    turns = [Turn(i, "caller", f"line {i}", AT) for i in range(20)]
    shuffled = turns[:]
    random.Random(7).shuffle(shuffled)
    assert turns_digest(turns) == turns_digest(shuffled)
    changed = [*turns[:-1], Turn(19, "caller", "line 19!", AT)]
    assert turns_digest(changed) != turns_digest(turns)
