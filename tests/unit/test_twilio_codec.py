"""Twilio Media Streams codec: PROTOCOLS.md's example frames in, the three server messages out."""

from __future__ import annotations

import json

import pytest

from engine import twilio_codec as tw

# The frames exactly as PROTOCOLS.md shows them (Twilio -> server).
CONNECTED = '{"event":"connected","protocol":"Call","version":"1.0.0"}'
START = (
    '{"event":"start","sequenceNumber":"1","streamSid":"MZ...","start":{"accountSid":"AC...",'
    '"streamSid":"MZ...","callSid":"CA...","tracks":["inbound"],"mediaFormat":{"encoding":'
    '"audio/x-mulaw","sampleRate":8000,"channels":1},"customParameters":{"token":"..."}}}'
)
MEDIA = (
    '{"event":"media","sequenceNumber":"4","streamSid":"MZ...","media":{"track":"inbound",'
    '"chunk":"2","timestamp":"40","payload":"<base64 mu-law>"}}'
)
DTMF = (
    '{"event":"dtmf","sequenceNumber":"5","streamSid":"MZ...",'
    '"dtmf":{"track":"inbound_track","digit":"1"}}'
)
MARK = '{"event":"mark","sequenceNumber":"6","streamSid":"MZ...","mark":{"name":"..."}}'
STOP = (
    '{"event":"stop","sequenceNumber":"7","streamSid":"MZ...",'
    '"stop":{"accountSid":"AC...","callSid":"CA..."}}'
)

PAYLOAD = "f39/fw=="  # base64 of four mu-law bytes


def media_frame(payload: object = PAYLOAD, **media: object) -> str:
    body: dict[str, object] = {"track": "inbound", "chunk": "2", "timestamp": "40"}
    body.update(media)
    body["payload"] = payload
    return json.dumps({"event": "media", "streamSid": "MZ1", "media": body})


def start_frame(**start: object) -> str:
    body: dict[str, object] = {
        "accountSid": "AC1",
        "streamSid": "MZ1",
        "callSid": "CA1",
        "tracks": ["inbound"],
        "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
        "customParameters": {"token": "t0k"},
    }
    body.update(start)
    return json.dumps({"event": "start", "sequenceNumber": "1", "streamSid": "MZ1", "start": body})


# --- the documented frames --------------------------------------------------------------------


def test_connected_example() -> None:
    assert tw.decode(CONNECTED) == tw.Connected(protocol="Call")


def test_start_example() -> None:
    assert tw.decode(START) == tw.Start(
        stream_sid="MZ...",
        call_sid="CA...",
        account_sid="AC...",
        custom_parameters={"token": "..."},
        encoding="audio/x-mulaw",
        sample_rate=8000,
    )


def test_media_example_is_refused_because_its_payload_is_a_placeholder() -> None:
    # The documented frame's payload is the text "<base64 mu-law>", which is not base64.
    with pytest.raises(tw.ProtocolError, match="not base64"):
        tw.decode(MEDIA)


def test_media_example_with_a_real_payload() -> None:
    frame = MEDIA.replace("<base64 mu-law>", PAYLOAD)
    assert tw.decode(frame) == tw.Media(payload=PAYLOAD, timestamp_ms=40, chunk=2)


def test_dtmf_example() -> None:
    assert tw.decode(DTMF) == tw.Dtmf(digit="1")


def test_mark_example() -> None:
    assert tw.decode(MARK) == tw.Mark(name="...")


def test_stop_example() -> None:
    assert tw.decode(STOP) == tw.Stop(call_sid="CA...")


def test_unknown_event_decodes_to_unknown() -> None:
    assert tw.decode('{"event":"newfangled","x":1}') == tw.Unknown(event="newfangled")


# --- tolerated variations ---------------------------------------------------------------------


def test_media_numbers_may_be_json_integers_and_default_to_zero() -> None:
    assert tw.decode(media_frame(chunk=7, timestamp=1234)) == tw.Media(PAYLOAD, 1234, 7)
    bare = json.dumps({"event": "media", "media": {"payload": PAYLOAD}})
    assert tw.decode(bare) == tw.Media(PAYLOAD, 0, 0)


def test_empty_media_payload_is_valid_base64() -> None:
    assert tw.decode(media_frame("")) == tw.Media("", 40, 2)


def test_start_without_parameters_or_format_uses_defaults() -> None:
    frame = json.dumps(
        {"event": "start", "start": {"accountSid": "AC1", "streamSid": "MZ1", "callSid": "CA1"}}
    )
    assert tw.decode(frame) == tw.Start("MZ1", "CA1", "AC1", {}, "audio/x-mulaw", 8000)


def test_start_keeps_every_custom_parameter() -> None:
    event = tw.decode(start_frame(customParameters={"token": "a", "tenant": "b"}))
    assert isinstance(event, tw.Start)
    assert event.custom_parameters == {"token": "a", "tenant": "b"}


def test_stop_without_body_has_empty_call_sid() -> None:
    assert tw.decode('{"event":"stop"}') == tw.Stop(call_sid="")


@pytest.mark.parametrize("digit", list("0123456789*#ABCD"))
def test_every_dtmf_key(digit: str) -> None:
    assert tw.decode(json.dumps({"event": "dtmf", "dtmf": {"digit": digit}})) == tw.Dtmf(digit)


def test_frame_of_exactly_the_limit_is_accepted() -> None:
    frame = media_frame("")
    frame = frame[:-1] + " " * (tw.MAX_FRAME_CHARS - len(frame)) + "}"
    assert len(frame) == tw.MAX_FRAME_CHARS
    assert tw.decode(frame) == tw.Media("", 40, 2)


# --- refused frames ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        ('{"event":"media",', "invalid JSON"),
        ("", "invalid JSON"),
        ('["event","media"]', "JSON object"),
        ('"media"', "JSON object"),
        ("null", "JSON object"),
        ('{"sequenceNumber":"1"}', "no 'event'"),
        ('{"event":5}', "no 'event'"),
        ('{"event":"media"}', "'media' must be an object"),
        ('{"event":"media","media":[]}', "'media' must be an object"),
        ('{"event":"media","media":{}}', "media.payload must be a string"),
        ('{"event":"media","media":{"payload":123}}', "media.payload must be a string"),
        ('{"event":"mark","mark":{}}', "mark.name must be a string"),
        ('{"event":"mark"}', "'mark' must be an object"),
        ('{"event":"dtmf","dtmf":{}}', "dtmf.digit must be a string"),
        ('{"event":"start"}', "'start' must be an object"),
    ],
)
def test_malformed_frames(frame: str, message: str) -> None:
    with pytest.raises(tw.ProtocolError, match=message):
        tw.decode(frame)


@pytest.mark.parametrize("missing", ["streamSid", "callSid", "accountSid"])
def test_start_missing_ids(missing: str) -> None:
    frame = json.loads(start_frame())
    del frame["start"][missing]
    with pytest.raises(tw.ProtocolError, match=f"start.{missing} must be a string"):
        tw.decode(json.dumps(frame))


@pytest.mark.parametrize(
    "payload",
    ["abc", "ab!=", "a===", "=AAA", "AA=A", "AAAA AAAA", "AAAA\n", "////-___", "é" * 4],
)
def test_non_base64_payload(payload: str) -> None:
    with pytest.raises(tw.ProtocolError, match="not base64"):
        tw.decode(media_frame(payload))


@pytest.mark.parametrize("value", ["-1", "4.0", "", "forty", 4.5, True, None, "²", "٣"])
def test_non_numeric_media_counters(value: object) -> None:
    # "²" and "٣" are str.isdigit() but not ASCII digits: they must be refused as protocol
    # errors, not escape as a bare ValueError from int() past the actor's `except ProtocolError`.
    with pytest.raises(tw.ProtocolError, match=r"media\.timestamp must be a number"):
        tw.decode(media_frame(timestamp=value))


def test_oversize_frame() -> None:
    frame = media_frame("A" * (tw.MAX_FRAME_CHARS))
    with pytest.raises(tw.ProtocolError, match="exceeds 65536"):
        tw.decode(frame)
    just_over = " " * (tw.MAX_FRAME_CHARS + 1)
    with pytest.raises(tw.ProtocolError, match="65537 chars exceeds"):
        tw.decode(just_over)


def test_binary_frame() -> None:
    with pytest.raises(tw.ProtocolError, match="binary frames"):
        tw.decode(CONNECTED.encode())


@pytest.mark.parametrize("digit", ["", "12", "E", "a", "+", " ", "١"])
def test_bad_dtmf_digit(digit: str) -> None:
    with pytest.raises(tw.ProtocolError, match="one key"):
        tw.decode(json.dumps({"event": "dtmf", "dtmf": {"digit": digit}}))


@pytest.mark.parametrize(
    "params",
    [{"token": 1}, {"token": None}, {"token": ["a"]}, {"token": {"a": "b"}}, ["token"], "token"],
)
def test_custom_parameters_must_map_str_to_str(params: object) -> None:
    with pytest.raises(tw.ProtocolError, match="customParameters must map strings to strings"):
        tw.decode(start_frame(customParameters=params))


@pytest.mark.parametrize("fmt", [["audio/x-mulaw"], "audio/x-mulaw", 8000])
def test_media_format_must_be_an_object(fmt: object) -> None:
    with pytest.raises(tw.ProtocolError, match="mediaFormat must be an object"):
        tw.decode(start_frame(mediaFormat=fmt))


def test_deeply_nested_json_is_a_protocol_error() -> None:
    with pytest.raises(tw.ProtocolError):
        tw.decode("[" * 20_000 + "]" * 20_000)


# --- server -> Twilio -------------------------------------------------------------------------


def test_encode_media() -> None:
    assert json.loads(tw.encode_media("MZ1", PAYLOAD)) == {
        "event": "media",
        "streamSid": "MZ1",
        "media": {"payload": PAYLOAD},
    }


def test_encode_mark() -> None:
    assert json.loads(tw.encode_mark("MZ1", "m7")) == {
        "event": "mark",
        "streamSid": "MZ1",
        "mark": {"name": "m7"},
    }


def test_encode_clear() -> None:
    assert json.loads(tw.encode_clear("MZ1")) == {"event": "clear", "streamSid": "MZ1"}


def test_encoders_are_compact() -> None:
    assert tw.encode_clear("MZ1") == '{"event":"clear","streamSid":"MZ1"}'


def test_encoded_mark_decodes_back() -> None:
    frame = json.loads(tw.encode_mark("MZ1", "m3"))
    assert tw.decode(json.dumps(frame)) == tw.Mark(name="m3")
