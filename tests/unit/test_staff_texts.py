"""What staff texts say."""

from __future__ import annotations

from engine.staff_texts import MAX_CHARS, reference, staff_text

EVENT = "0f8c2d1e-3b4a-5c6d-7e8f-9a0b1c2d3e4f"


def test_a_message_text_puts_who_and_how_to_reach_them_first() -> None:
    data = {
        "caller_name": "Marco",
        "caller_number": "+15550001111",
        "callback_number": "+15550002222",
        "reason": "Deer   collision,\nneeds a tow",
        "preferred_time": "after 3pm",
    }
    assert staff_text("message.taken", data, EVENT) == (
        "New message from Marco +15550002222: Deer collision, needs a tow."
        " Best time: after 3pm. (ref 0f8c2d1e3b)"
    )


def test_an_unnamed_caller_and_a_long_reason_stay_within_two_segments() -> None:
    data = {"caller_number": "+15550001111", "reason": "word " * 200}
    text = staff_text("message.taken", data, EVENT)
    assert text.startswith("New message from A caller +15550001111: word word")
    assert len(text) == MAX_CHARS
    assert text.endswith(f"…. ({reference(EVENT)})")


def test_a_summary_text() -> None:
    text = staff_text("call.analyzed", {"summary": "Caller reported hail damage."}, EVENT)
    assert text == "Call summary: Caller reported hail damage. (ref 0f8c2d1e3b)"
