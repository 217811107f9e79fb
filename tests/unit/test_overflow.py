"""engine.overflow: the tenant's choice, its stored form, the wait left in the queue."""

from __future__ import annotations

from engine import twiml
from engine.overflow import Overflow, queue_name, wait_left_s


def test_the_choice_falls_back_to_what_can_be_done() -> None:
    assert Overflow().action(None) == "message"
    assert Overflow().action("+15550001111") == "transfer"  # as before the choice existed
    assert Overflow("transfer").action(None) == "message"  # no number to transfer to
    assert Overflow("message").action("+15550001111") == "message"
    assert Overflow("queue").action(None) == "queue"


def test_stored_form_round_trips_and_bad_values_are_the_defaults() -> None:
    chosen = Overflow("queue", 300)
    assert Overflow.from_json(chosen.to_json()) == chosen
    assert Overflow.from_json({}) == Overflow(None, 120)
    assert Overflow.from_json({"choice": "hold", "queue_max_wait_s": 5}) == Overflow(None, 120)
    assert Overflow.from_json({"queue_max_wait_s": "300"}) == Overflow(None, 120)


def test_wait_left_and_the_queue_twiml() -> None:
    assert wait_left_s(1000.0, 120, 1100.0) == 20.0
    assert wait_left_s(1000.0, 120, 1200.0) == 0.0
    name = queue_name("0b7c6a8e-9a8f-4d27-bc5a-1f0f3f3b9c11")
    assert len(name) <= 64  # Twilio's limit on a queue's friendly name
    doc = twiml.enqueue(name, wait_url="https://h/w?a=1&b=2", action_url="https://h/left")
    assert 'waitUrl="https://h/w?a=1&amp;b=2"' in doc
    assert f">{name}</Enqueue>" in doc
    assert '<Pause length="3" />' in twiml.queue_hold(pause_s=3)
    assert "<Leave />" in twiml.leave_queue()
