"""Call templates: the ready insurance set as strict schemas, the model's choice and fields as
the OpenAI simulator gives them, and parsing that answer."""

from __future__ import annotations

import jsonschema

from engine.sim.openai_schema import answer, strict_schema_problem
from memory.call_templates import READY, parse_template, template_payload
from memory.extraction import POST_CALL_SCHEMA, post_call_request

TEMPLATES = list(READY.values())

CLAIM = """Agent: Thanks for calling, how can I help?
Caller: Hi, I need to report an accident. My policy number is PA-77120.
Caller: It happened yesterday on Route 9 near the mall, a truck hit my 2021 Toyota Camry.
Caller: Nobody was injured, thank God. The police came and made a report.
Agent: I'm sorry. Could you text us photos of the damage?
Caller: Sure, I'll send photos tonight."""

PAYMENT = """Caller: Hi, I have a question about my bill for policy AU-12345.
Caller: The payment of $182.50 is due on March 3 and I want to pay by card."""

CHAT = """Caller: Hi, just calling to say thanks for the help last week. Bye."""


def test_every_ready_template_is_a_strict_schema() -> None:
    instructions, schema = post_call_request(TEMPLATES)
    assert strict_schema_problem(schema) is None
    assert "template" in schema["required"]
    assert "template option" in instructions
    assert post_call_request([])[1] is POST_CALL_SCHEMA  # no templates: as before


def test_a_claim_call_fills_the_claim_intake() -> None:
    _, schema = post_call_request(TEMPLATES)
    data = answer(CLAIM, schema)
    jsonschema.Draft202012Validator(schema).validate(data)
    chosen = parse_template(data, TEMPLATES)
    assert chosen is not None
    assert chosen.key == "claim_intake"
    fields = chosen.fields
    assert fields["policy_number"] == "PA-77120"
    assert fields["date_of_loss"] == "yesterday"
    assert fields["vehicle"] == "2021 Toyota Camry"
    assert fields["place_of_loss"] == "on Route 9"
    assert fields["injuries"] is False
    assert fields["police_report"] is True
    assert fields["photos_requested"] is True
    payload = template_payload(chosen)
    assert payload is not None
    assert payload["name"] == "Claim intake (first notice of loss)"


def test_a_payment_call_fills_the_payment_question() -> None:
    _, schema = post_call_request(TEMPLATES)
    chosen = parse_template(answer(PAYMENT, schema), TEMPLATES)
    assert chosen is not None
    assert chosen.key == "payment_question"
    assert chosen.fields["amount"] == 182.5
    assert chosen.fields["due_date"] == "March 3"
    assert chosen.fields["policy_number"] == "AU-12345"


def test_a_call_no_template_fits_gets_none() -> None:
    _, schema = post_call_request(TEMPLATES)
    data = answer(CHAT, schema)
    assert data["template"] == {"key": "none"}
    assert parse_template(data, TEMPLATES) is None


def test_values_out_of_bounds_are_dropped() -> None:
    template = READY["payment_question"]
    data = {
        "template": {"key": "payment_question", "fields": {"amount": True, "question": "  a  b "}}
    }
    chosen = parse_template(data, [template])
    assert chosen is not None
    assert chosen.fields == {
        "policy_number": None,
        "amount": None,
        "due_date": None,
        "question": "a b",
    }
    assert parse_template({"template": {"key": "claim_intake"}}, [template]) is None  # not on


def test_a_strict_schema_with_a_null_enum_needs_a_null_type() -> None:
    schema = {
        "type": "object",
        "properties": {"x": {"type": "string", "enum": ["a", None]}},
        "required": ["x"],
        "additionalProperties": False,
    }
    assert "None" in (strict_schema_problem(schema) or "")
