"""The inbound audio fast path's whole-frame match (engine.twilio_codec.media_payload): every
frame it takes audio from is one the full decoder accepts, with the same payload - for frames in
Twilio's layout, for those frames mutated by hostile characters (escapes, quotes, braces,
non-ASCII), and for frames with extra fields, wrong types or too many characters."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine import twilio_codec as tw

B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
HOSTILE = ['"', "\\", "\\u0041", '\\"', "}", "{", ",", ":", "=", "é", "\u2028", "\n", " ", "0", "A"]


def _frame(sid: str, seq: str, chunk: str, ts: str, payload: str, sid_last: bool) -> str:
    media = (
        f'"media":{{"track":"inbound","chunk":"{chunk}","timestamp":"{ts}","payload":"{payload}"}}'
    )
    if sid_last:
        return f'{{"event":"media","sequenceNumber":"{seq}",{media},"streamSid":"{sid}"}}'
    return f'{{"event":"media","sequenceNumber":"{seq}","streamSid":"{sid}",{media}}}'


def _taken_as_the_decoder_takes_it(frame: str) -> str | None:
    """media_payload's answer, checked against the full decoder's."""
    payload = tw.media_payload(frame)
    if payload is not None:
        event = tw.decode(frame)
        assert isinstance(event, tw.Media), frame
        assert event.payload == payload, frame
    return payload


counters = st.integers(min_value=0, max_value=10**12).map(str)
sids = st.text(ALNUM, min_size=1, max_size=40)
payloads = st.builds(
    lambda body, pad: body[: len(body) - len(body) % 4] + ("", "AAA=", "AA==")[pad],
    st.text(B64, max_size=400),
    st.integers(min_value=0, max_value=2),
)


@settings(max_examples=400, deadline=None, database=None)
@given(sids, counters, counters, counters, payloads, st.booleans())
def test_frames_in_twilios_layout_are_matched_whole(
    sid: str, seq: str, chunk: str, ts: str, payload: str, sid_last: bool
) -> None:
    frame = _frame(sid, seq, chunk, ts, payload, sid_last)
    assert tw._MEDIA_FRAME.fullmatch(frame) is not None  # the match, not the JSON fallback
    assert _taken_as_the_decoder_takes_it(frame) == payload


@settings(max_examples=1500, deadline=None, database=None)
@given(
    sids,
    counters,
    payloads,
    st.booleans(),
    st.lists(
        st.tuples(st.integers(min_value=0), st.sampled_from(HOSTILE), st.integers(0, 2)),
        min_size=1,
        max_size=3,
    ),
)
def test_a_mutated_frame_is_audio_only_when_the_decoder_says_so(
    sid: str,
    seq: str,
    payload: str,
    sid_last: bool,
    edits: list[tuple[int, str, int]],
) -> None:
    """Characters inserted, replaced or deleted anywhere: whatever the fast path still takes
    audio from, the decoder accepts with the same payload (and what it refuses, it leaves)."""
    frame = _frame(sid, seq, "2", "40", payload, sid_last)
    for where, text, how in edits:
        i = where % (len(frame) + 1)
        if how == 0:
            frame = frame[:i] + text + frame[i:]
        elif how == 1:
            frame = frame[:i] + text + frame[i + 1 :]
        else:
            frame = frame[:i] + frame[i + 1 :]
    _taken_as_the_decoder_takes_it(frame)


PAYLOAD = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
GOOD = _frame("MZ1", "4", "2", "40", PAYLOAD, False)


@pytest.mark.parametrize(
    "frame",
    [
        GOOD.replace('"payload":"AAEC', '"payload":"\\u0041AEC'),  # an escape: JSON reads it
        GOOD.replace('"chunk":"2"', '"chunk":2'),  # a number, not a string
        GOOD.replace('"track":"inbound",', '"track":"inbound","extra":{"a":[1,"}"]},'),
        GOOD[:-1] + ',"newField":"x"}',
        GOOD.replace('"timestamp":"40"', '"timestamp":"40","timestamp":"41"'),
        GOOD.replace("MZ1", "MZ\\u00e9"),
    ],
)
def test_layouts_the_match_does_not_know_fall_back_to_the_decoder(frame: str) -> None:
    assert tw._MEDIA_FRAME.fullmatch(frame) is None
    assert _taken_as_the_decoder_takes_it(frame) is not None


@pytest.mark.parametrize(
    "frame",
    [
        GOOD.replace(PAYLOAD, PAYLOAD[:-1]),  # length not a multiple of 4
        GOOD.replace(PAYLOAD, PAYLOAD[:-2] + "==="),
        GOOD.replace(PAYLOAD, "=" + PAYLOAD[1:]),
        GOOD.replace(PAYLOAD, PAYLOAD[:-4] + "A\\nA="),  # a JSON escape for a newline
        GOOD.replace(PAYLOAD, PAYLOAD[:-4] + '"AA='),
        GOOD.replace('"payload":"' + PAYLOAD + '"', '"payload":null'),
        GOOD.replace('"payload":"' + PAYLOAD + '"', '"payload":["AAAA"]'),
        GOOD.replace('"timestamp":"40"', '"timestamp":"-40"'),
        GOOD.replace('"timestamp":"40"', '"timestamp":"4\\u0660"'),  # an Arabic-Indic digit
        GOOD.replace('"timestamp":"40"', '"timestamp":"4\u0660"'),
        GOOD.replace('"chunk":"2"', '"chunk":true'),
        GOOD.replace(PAYLOAD, "A" * (tw.MAX_FRAME_CHARS - len(GOOD) + len(PAYLOAD) + 4)),
        GOOD[:-1],
        GOOD + "}",
        GOOD + " x",
    ],
)
def test_hostile_media_frames_are_refused_by_both(frame: str) -> None:
    assert tw.media_payload(frame) is None
    with pytest.raises(tw.ProtocolError):
        tw.decode(frame)


def test_a_frame_of_the_limit_is_matched_and_one_past_it_is_not() -> None:
    room = tw.MAX_FRAME_CHARS - len(GOOD) + len(PAYLOAD)
    at_limit = GOOD.replace(PAYLOAD, "A" * (room - room % 4))
    assert len(at_limit) <= tw.MAX_FRAME_CHARS
    assert tw.media_payload(at_limit) == json.loads(at_limit)["media"]["payload"]
    past = GOOD.replace(PAYLOAD, "A" * (room - room % 4 + 4))
    assert len(past) > tw.MAX_FRAME_CHARS
    assert tw.media_payload(past) is None
