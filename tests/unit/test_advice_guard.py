"""The engine's own check of the agent's words for coverage advice, quotes and binding
(engine.advice_guard): what fires, what must not (a set of ordinary answers of an insurance
agency's front desk, and the engine's own lines), and fed as the transcript streams."""

from __future__ import annotations

import re

import pytest

from engine import advice_guard
from engine.advice_guard import find, tail
from prompts import call_lines

STATED = [
    # coverage: whether a loss is covered
    ("Good news, you're covered for that.", "coverage"),
    ("Yes, that's covered under your policy.", "coverage"),
    ("Your policy covers hail damage, so you're all set.", "coverage"),
    ("Don't worry, the repair would be covered.", "coverage"),
    ("Unfortunately that isn't covered.", "coverage"),
    ("You are not covered for flood damage.", "coverage"),
    ("Your homeowners policy doesn't cover the basement.", "coverage"),
    ("Your claim will be approved once the adjuster signs off.", "coverage"),
    ("I'd recommend going with the higher liability limits.", "coverage"),
    ("I can't say for sure, but it sounds like you're covered.", "coverage"),
    # quotes
    ("Your premium will be two hundred and twelve dollars a month.", "quote"),
    ("Adding him is easy. Your new premium would be higher, about $212.", "quote"),
    ("It'll cost you about $40 more.", "quote"),
    ("That comes to $1,200 a year.", "quote"),
    ("You'd pay $89.50 per month for full coverage.", "quote"),
    ("I can offer you a rate of 95 dollars.", "quote"),
    ("That's a quote for $300, valid for thirty days.", "quote"),
    ("Your rate would go down if you bundle.", "quote"),
    ("Your payment will be one twenty a month.", "quote"),
    ("It would be around one hundred and twenty a month.", "quote"),
    ("You'd pay about ninety-five a month with the bundle.", "quote"),
    # binding
    ("Okay, I've bound that policy for you.", "binding"),
    ("I'll go ahead and bind it now.", "binding"),
    ("Done: I've added your son to your policy.", "binding"),
    ("I've increased your deductible to a thousand.", "binding"),
    ("Your coverage is now active.", "binding"),
    ("The change is effective immediately.", "binding"),
    ("Consider yourself covered.", "binding"),
]

STATED_ES = [
    ("Sí, usted está cubierto para eso.", "coverage"),
    ("Su póliza cubre el granizo.", "coverage"),
    ("Su prima será de ciento veinte dólares.", "quote"),
    ("Le costará unos cuarenta dólares más.", "quote"),
    ("Serían $120 al mes.", "quote"),
    ("Ya le he agregado a su hijo a la póliza.", "binding"),
    ("Su póliza ya está activa.", "binding"),
]

# Ordinary answers of an agency's front desk: none may fire.
BENIGN = [
    "I can't tell you whether you're covered, a licensed agent can.",
    "Only a licensed agent can tell you if that's covered.",
    "A licensed agent can confirm whether your policy covers water damage.",
    "I'm not able to say what your premium would be, but I can have an agent call you.",
    "You'd like to know if your rate will go up after the accident, is that right?",
    "So you're asking whether your claim will be approved?",
    "A licensed agent can explain what your policy covers.",
    "I don't know if you're covered for rental cars, but I'll ask an agent to call you back.",
    "Thanks for calling Acme Insurance, this is Ava, an AI assistant. How can I help?",
    "I can take a message for your agent.",
    "Let me put you through to our claims team.",
    "Could you spell your last name for me?",
    "Your claim number is C as in Charlie, one two three four.",
    "Your policy number is on the first page of your declarations.",
    "The adjuster will call you within two business days.",
    "Our office is open Monday to Friday, nine to five.",
    "Your current premium is $120 a month, and your renewal is in June.",
    "Your last payment of $120 was received on March 3rd.",
    "I've taken a message, and someone will call you back this afternoon.",
    "I've added a note to your file for the agent.",
    "What's the year, make and model of the car?",
    "Is anyone hurt?",
    "I'm sorry to hear about the accident. Let's get the details down.",
    "Do you have the other driver's insurance information?",
    "Would you like me to schedule a call with a licensed agent about a quote?",
    "A licensed agent can give you a quote for adding your son.",
    "I can't quote prices, but a licensed agent can get you one today.",
    "Are you covered by another carrier right now?",
    "You mentioned you're covered through your employer, is that right?",
    "Is the car covered by a loan or a lease?",
    "I can't bind or change coverage, but an agent can.",
    "What would you like to insure: a home, a car, or a business?",
    "The deductible is the amount you pay before the insurance pays on a claim.",
    "Comprehensive generally means damage that isn't from a collision, like hail.",
    "I'll text you the link to our payment page.",
    "Your agent, Maria, is in the office until five.",
    "We've got you covered, let me take down the details.",
    "It'll renew once a year, on the first of June.",
    "You pay your premium twice a year, in January and July.",
    "It would be best to call back in a month.",
    "Your payment will be processed tonight.",
    "Your bill will be mailed to the address on file.",
    "I'll make sure the agent covers that when they call you back.",
    "I can't say whether that's covered; an agent will look at your policy.",
    "Si quiere, le comunico con un agente con licencia.",
    "No puedo decirle si está cubierto, pero un agente con licencia sí.",
    "¿Me puede dar su número de póliza?",
    "Un agente le puede dar una cotización.",
]


@pytest.mark.parametrize(("text", "kind"), STATED)
def test_a_statement_only_a_licensed_agent_may_make_fires(text: str, kind: str) -> None:
    assert find("", text) == kind


@pytest.mark.parametrize(("text", "kind"), STATED_ES)
def test_spanish_statements_fire_when_the_agency_speaks_spanish(text: str, kind: str) -> None:
    assert find("", text, spanish=True) == kind


def test_spanish_is_not_checked_for_an_agency_that_does_not_speak_it() -> None:
    assert find("", "Su póliza cubre el granizo.") is None


@pytest.mark.parametrize("text", BENIGN)
def test_ordinary_answers_do_not_fire(text: str) -> None:
    assert find("", text, spanish=True) is None


def test_there_are_at_least_thirty_ordinary_answers() -> None:
    assert len(BENIGN) >= 30


@pytest.mark.parametrize("language", call_lines.LANGUAGES)
def test_the_engines_own_lines_do_not_fire(language: str) -> None:
    lines = call_lines.lines(language)
    for line in (lines.advice_transfer, lines.advice_message):
        said = re.search(r'"(.*)"', line)
        assert said is not None
        assert find("", said.group(1), spanish=True) is None


def _streamed(text: str, size: int, spanish: bool = False) -> advice_guard.Kind | None:
    said = ""
    for i in range(0, len(text), size):
        delta = text[i : i + size]
        kind = find(said, delta, spanish)
        if kind is not None:
            return kind
        said = tail(said + delta)
    return None


@pytest.mark.parametrize("size", [1, 3, 7, 20])
def test_streamed_in_small_deltas_the_same_sentences_fire_and_pass(size: int) -> None:
    for text, kind in STATED:
        assert _streamed(text, size) == kind, text
    for text in BENIGN:
        assert _streamed(text, size, spanish=True) is None, text


def test_a_phrase_after_a_long_answer_fires_with_only_the_tail_kept() -> None:
    long = "Thanks for your patience while I pulled that up. " * 20
    assert _streamed(long + "Your premium will be $212 a month.", 5) == "quote"
    assert len(tail(long)) == advice_guard.TAIL_CHARS


def test_a_deferring_clause_does_not_shield_a_later_statement() -> None:
    assert find("", "I can't promise anything. You're covered.") == "coverage"
    assert find("", "A licensed agent can help, but you're covered for towing.") == "coverage"


def test_an_earlier_phrase_is_not_found_again_by_a_later_delta() -> None:
    said = "I can't tell you whether you're covered"
    assert find(said, ", a licensed agent can.") is None
