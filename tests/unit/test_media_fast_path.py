"""The audio fast path's codec: a caller media frame's payload taken out without an event
object, and frames spliced together - each the same as the full codec, byte for byte, and
every frame the full decoder refuses left to it."""

from __future__ import annotations

import base64
import json
import random
import re

import pytest

from engine import realtime_codec as rt
from engine import twilio_codec as tw
from engine.wire_text import is_base64, json_plain

PAYLOAD = base64.b64encode(bytes(range(160))).decode()
SID = "MZ" + "0123456789abcdef" * 2


def _compact(obj: object) -> str:
    return json.dumps(obj, separators=(",", ":"))


MEDIA = {
    "event": "media",
    "sequenceNumber": "4",
    "streamSid": SID,
    "media": {"track": "inbound", "chunk": "2", "timestamp": "40", "payload": PAYLOAD},
}


@pytest.mark.parametrize(
    "frame",
    [
        _compact(MEDIA),
        json.dumps(MEDIA),  # with spaces
        # Twilio's documentation orders the stream id after the media object
        _compact(
            {"event": "media", "sequenceNumber": "3", "media": MEDIA["media"], "streamSid": SID}
        ),
        _compact({"event": "media", "media": {"payload": PAYLOAD, "chunk": 7, "timestamp": 140}}),
        _compact({"event": "media", "media": {"payload": ""}}),
        _compact({**MEDIA, "newField": {"nested": [1, 2]}}),  # Twilio adds fields without notice
    ],
)
def test_fast_path_payload_is_the_decoders(frame: str) -> None:
    event = tw.decode(frame)
    assert isinstance(event, tw.Media)
    assert tw.media_payload(frame) == event.payload


REFUSED_MEDIA = [
    '{"event":"media",',
    '{"event":"media"}',
    '{"event":"media","media":[]}',
    '{"event":"media","media":{}}',
    '{"event":"media","media":{"payload":123}}',
    _compact({"event": "media", "media": {"payload": "ab!="}}),
    _compact({"event": "media", "media": {"payload": "AA=A"}}),
    _compact({"event": "media", "media": {"payload": "AAAA\n"}}),
    _compact({"event": "media", "media": {"payload": "é" * 4}}),
    _compact({"event": "media", "media": {"payload": PAYLOAD, "timestamp": "٣"}}),
    _compact({"event": "media", "media": {"payload": PAYLOAD, "chunk": True}}),
    _compact({"event": "media", "media": {"payload": PAYLOAD, "timestamp": "-1"}}),
    _compact({"event": "media", "media": {"payload": "A" * tw.MAX_FRAME_CHARS}}),
    "[" * 20_000 + "]" * 20_000,
]


@pytest.mark.parametrize("frame", REFUSED_MEDIA)
def test_a_media_frame_the_decoder_refuses_is_left_to_it(frame: str) -> None:
    assert tw.media_payload(frame) is None
    with pytest.raises(tw.ProtocolError):
        tw.decode(frame)


@pytest.mark.parametrize(
    "frame",
    [
        '{"event":"mark","mark":{"name":"m1"}}',
        '{"event":"stop","stop":{"callSid":"CA1"}}',
        '{"event":"start","start":{}}',
        # a later key wins in JSON: this is a mark, not audio
        '{"event":"media","media":{"payload":"AAAA"},"event":"mark","mark":{"name":"m1"}}',
        '{"streamSid":"MZ1","event":"media","media":{"payload":"AAAA"}}',  # not the plain shape
    ],
)
def test_other_frames_are_not_taken_for_audio(frame: str) -> None:
    assert tw.media_payload(frame) is None


def test_binary_frames_are_left_to_the_decoder() -> None:
    assert tw.media_payload(_compact(MEDIA).encode()) is None


_B64 = re.compile(r"[A-Za-z0-9+/]*={0,2}")


def test_base64_check_agrees_with_the_alphabet() -> None:
    rng = random.Random(7)
    alphabet = 'AZaz09+/=-_ !\n"\\é'
    for _ in range(5000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 13)))
        assert is_base64(text) == (len(text) % 4 == 0 and _B64.fullmatch(text) is not None), text
    assert is_base64(PAYLOAD)


@pytest.mark.parametrize("text", ["", "m12", SID, PAYLOAD, "a b/c+d=", "~"])
def test_plain_strings_are_written_as_json_writes_them(text: str) -> None:
    assert json_plain(text)
    assert tw.encode_media(SID, text) == _compact(
        {"event": "media", "streamSid": SID, "media": {"payload": text}}
    )
    assert tw.encode_mark(text, "m3") == _compact(
        {"event": "mark", "streamSid": text, "mark": {"name": "m3"}}
    )
    assert tw.encode_clear(text) == _compact({"event": "clear", "streamSid": text})
    assert rt.audio_append(text) == _compact({"type": "input_audio_buffer.append", "audio": text})


@pytest.mark.parametrize(
    "text", ['say "hi"', "back\\slash", "line\n", "tab\t", "é", "\x7f", "\u2028"]
)
def test_strings_that_need_escaping_go_through_the_encoder(text: str) -> None:
    assert not json_plain(text)
    assert json.loads(tw.encode_media(text, text)) == {
        "event": "media",
        "streamSid": text,
        "media": {"payload": text},
    }
    assert json.loads(tw.encode_mark(text, text))["mark"] == {"name": text}
    assert json.loads(tw.encode_clear(text))["streamSid"] == text
    assert json.loads(rt.audio_append(text))["audio"] == text
