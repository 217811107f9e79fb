"""TwiML answers, parsed back with xml.etree and checked element by element."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from engine import twiml

MEDIA_URL = "wss://media.example.com:20001/stream/CA1"
ACTION = "https://app.example.com/twilio/stream-ended"
STATUS = "https://app.example.com/twilio/stream-status"
RECORDING = "https://app.example.com/twilio/recording"


def parse(document: str) -> ET.Element:
    assert document.startswith('<?xml version="1.0" encoding="UTF-8"?>')
    root = ET.fromstring(document)
    assert root.tag == "Response"
    return root


def test_stream_without_recording() -> None:
    root = parse(
        twiml.stream(media_url=MEDIA_URL, token="tok-1", action_url=ACTION, status_url=STATUS)
    )
    assert [child.tag for child in root] == ["Connect"]
    connect = root[0]
    assert connect.attrib == {"action": ACTION}
    assert [child.tag for child in connect] == ["Stream"]
    stream = connect[0]
    assert stream.attrib == {"url": MEDIA_URL, "statusCallback": STATUS}
    assert [(p.tag, p.attrib) for p in stream] == [
        ("Parameter", {"name": "token", "value": "tok-1"})
    ]


def test_stream_with_recording_starts_it_before_connecting() -> None:
    root = parse(
        twiml.stream(
            media_url=MEDIA_URL,
            token="tok-1",
            action_url=ACTION,
            status_url=STATUS,
            recording_callback=RECORDING,
        )
    )
    assert [child.tag for child in root] == ["Start", "Connect"]
    start = root[0]
    assert [child.tag for child in start] == ["Recording"]
    assert start[0].attrib == {
        "recordingStatusCallback": RECORDING,
        "recordingStatusCallbackEvent": "in-progress completed absent",
        "channels": "dual",
    }
    assert len(start[0]) == 0
    stream = root[1].find("Stream")
    assert stream is not None
    assert stream.attrib["url"] == MEDIA_URL


def test_stream_url_gets_no_query_string() -> None:
    root = parse(twiml.stream(media_url=MEDIA_URL, token="t", action_url=ACTION, status_url=STATUS))
    stream = root.find("Connect/Stream")
    assert stream is not None
    assert stream.attrib["url"] == MEDIA_URL
    assert "?" not in stream.attrib["url"]


def test_token_with_markup_characters_survives_escaping() -> None:
    token = "a&b<c>\"d'"
    root = parse(
        twiml.stream(media_url=MEDIA_URL, token=token, action_url=ACTION, status_url=STATUS)
    )
    parameter = root.find("Connect/Stream/Parameter")
    assert parameter is not None
    assert parameter.attrib == {"name": "token", "value": token}


def test_say_and_hang_up() -> None:
    root = parse(twiml.say_and_hang_up(twiml.BUSY))
    assert [(child.tag, child.text, child.attrib) for child in root] == [
        ("Say", twiml.BUSY, {}),
        ("Hangup", None, {}),
    ]


def test_say_escapes_text() -> None:
    root = parse(twiml.say_and_hang_up("Smith & Sons <Insurance>"))
    assert root[0].text == "Smith & Sons <Insurance>"


def test_hang_up() -> None:
    root = parse(twiml.hang_up())
    assert [(child.tag, child.attrib, len(child)) for child in root] == [("Hangup", {}, 0)]


def test_canned_messages_end_with_goodbye() -> None:
    for text in (
        twiml.NOT_IN_SERVICE,
        twiml.BUSY,
        twiml.UNAVAILABLE,
        twiml.MODEL_APOLOGY,
        twiml.STREAM_LOST_APOLOGY,
    ):
        assert text.endswith("Goodbye.")
