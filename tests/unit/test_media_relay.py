"""The test call relay's handling of the page's first messages: the stream token goes into
the `start` (the page never holds it), anything else passes untouched, and what is not the
protocol is refused before any audio flows."""

from __future__ import annotations

import json

import pytest

from admin_api.media_relay import RelayRefused, with_token


def test_the_token_is_put_into_the_start_and_nothing_else_changes() -> None:
    connected = json.dumps({"event": "connected", "protocol": "Call"})
    assert with_token(connected, "tok") == (connected, False)
    start = {
        "event": "start",
        "streamSid": "MZ1",
        "start": {"callSid": "CA1", "customParameters": {"token": "forged", "a": "b"}},
    }
    text, started = with_token(json.dumps(start), "tok")
    assert started
    assert json.loads(text)["start"]["customParameters"] == {"token": "tok", "a": "b"}
    assert json.loads(text)["start"]["callSid"] == "CA1"


@pytest.mark.parametrize(
    "text",
    [
        "not json",
        "[1, 2]",
        json.dumps({"no": "event"}),
        json.dumps({"event": "start"}),
        json.dumps({"event": "start", "start": {"customParameters": ["x"]}}),
    ],
)
def test_what_is_not_the_protocol_is_refused(text: str) -> None:
    with pytest.raises(RelayRefused):
        with_token(text, "tok")
