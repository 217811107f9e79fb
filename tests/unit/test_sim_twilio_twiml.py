"""TwiML parsing of the simulated caller, against documents built with the real VoiceResponse."""

from __future__ import annotations

import pytest
from twilio.twiml.voice_response import Dial, VoiceResponse

from engine.sim.twiml_verbs import (
    TwimlConnect,
    TwimlDial,
    TwimlError,
    TwimlHangup,
    TwimlOther,
    TwimlPause,
    TwimlRecording,
    TwimlRedirect,
    TwimlSay,
    TwimlStream,
    parse_twiml,
)


def test_stream_with_parameters_recording_and_action() -> None:
    response = VoiceResponse()
    start = response.start()
    start.recording(
        recording_status_callback="https://h/twilio/recording",
        recording_status_callback_event="in-progress completed absent",
        channels="dual",
    )
    connect = response.connect(action="https://h/twilio/stream-ended")
    stream = connect.stream(url="wss://m/media", status_callback="https://h/twilio/stream")
    stream.parameter(name="token", value="t-1")
    stream.parameter(name="tenant", value="acme")

    verbs = parse_twiml(str(response))

    assert verbs == [
        TwimlRecording(
            {
                "channels": "dual",
                "recordingStatusCallback": "https://h/twilio/recording",
                "recordingStatusCallbackEvent": "in-progress completed absent",
            }
        ),
        TwimlConnect(
            action="https://h/twilio/stream-ended",
            stream=TwimlStream(
                url="wss://m/media",
                status_callback="https://h/twilio/stream",
                parameters={"token": "t-1", "tenant": "acme"},
            ),
        ),
    ]


def test_say_then_hangup() -> None:
    response = VoiceResponse()
    response.say("  We are closed.  ")
    response.hangup()
    assert parse_twiml(str(response)) == [TwimlSay("We are closed."), TwimlHangup()]


def test_dial_plain_and_with_number_noun() -> None:
    plain = VoiceResponse()
    plain.dial("+15551230000")
    nested = VoiceResponse()
    dial = Dial()
    dial.number("+15557654321")
    nested.append(dial)
    assert parse_twiml(str(plain)) == [TwimlDial("+15551230000")]
    assert parse_twiml(str(nested)) == [TwimlDial("+15557654321")]


def test_pause_redirect_and_unknown_verbs() -> None:
    response = VoiceResponse()
    response.pause(length=2)
    response.redirect("/twilio/next")
    response.play("https://h/a.mp3")
    assert parse_twiml(str(response)) == [
        TwimlPause(2.0),
        TwimlRedirect("/twilio/next"),
        TwimlOther("Play"),
    ]


def test_connect_without_stream() -> None:
    assert parse_twiml("<Response><Connect action='/a'/></Response>") == [
        TwimlConnect(action="/a", stream=None)
    ]


def test_empty_response_has_no_verbs() -> None:
    assert parse_twiml(str(VoiceResponse())) == []


@pytest.mark.parametrize(
    "document",
    ["<Response><Say>unclosed</Response>", "not xml at all", "<Gather><Say>x</Say></Gather>"],
)
def test_malformed_documents_are_rejected(document: str) -> None:
    with pytest.raises(TwimlError):
        parse_twiml(document)
