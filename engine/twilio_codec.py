"""Twilio Media Streams wire codec: text frames <-> frozen event dataclasses. Sans-I/O.

`decode` turns one WebSocket text frame from Twilio into an event or raises `ProtocolError`;
the encoders build the only three messages a server may send (media, mark, clear). Payloads
are base64 strings passed through untouched: the engine never decodes call audio.

The audio fast path: `media_payload` takes a caller `media` frame's payload out with no event
object - by one match of the whole frame against the layout Twilio writes (no JSON parse: 1.5
against 3.6 CPU-us a frame), or, for any other layout, with one JSON parse (in C) - and the
encoders splice their text together when every string in it needs no escaping (base64 payloads,
Twilio's ids, the engine's mark names), which is what `json.dumps` would have written, byte for
byte (engine.wire_text). Measured per frame in bench/README.md.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from engine.wire_text import is_base64, json_plain

MAX_FRAME_CHARS = 64 * 1024
_MEDIA_PREFIXES = ('{"event":"media"', '{"event": "media"')
# A media frame as Twilio writes it (streamSid before or after `media`), matched whole: text it
# matches is a JSON object `decode` accepts, and group 1 is its payload in the base64 alphabet.
_MEDIA_FRAME = re.compile(
    r'\{"event":"media","sequenceNumber":"[0-9]+",(?:"streamSid":"[A-Za-z0-9]+",)?'
    r'"media":\{"track":"[a-z_]+","chunk":"[0-9]+","timestamp":"[0-9]+",'
    r'"payload":"([A-Za-z0-9+/]*={0,2})"\}(?:,"streamSid":"[A-Za-z0-9]+")?\}'
)


class ProtocolError(ValueError):
    """A frame that is not valid Twilio Media Streams JSON."""


@dataclass(frozen=True, slots=True)
class Connected:
    protocol: str


@dataclass(frozen=True, slots=True)
class Start:
    stream_sid: str
    call_sid: str
    account_sid: str
    custom_parameters: dict[str, str] = field(default_factory=dict)
    encoding: str = "audio/x-mulaw"
    sample_rate: int = 8000


@dataclass(frozen=True, slots=True)
class Media:
    payload: str
    timestamp_ms: int
    chunk: int


@dataclass(frozen=True, slots=True)
class Dtmf:
    digit: str


@dataclass(frozen=True, slots=True)
class Mark:
    name: str


@dataclass(frozen=True, slots=True)
class Stop:
    call_sid: str


@dataclass(frozen=True, slots=True)
class Unknown:
    event: str


TwilioEvent = Connected | Start | Media | Dtmf | Mark | Stop | Unknown


def _str(obj: dict[str, object], key: str, where: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str):
        raise ProtocolError(f"{where}.{key} must be a string")
    return value


def _obj(obj: dict[str, object], key: str) -> dict[str, object]:
    value = obj.get(key)
    if not isinstance(value, dict):
        raise ProtocolError(f"'{key}' must be an object")
    return value


def _int(value: object, where: str) -> int:
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise ProtocolError(f"{where} must be a number")


def _counter(value: object) -> bool:
    if type(value) is str:
        return value.isascii() and value.isdigit()
    return type(value) is int


def media_payload(text: str | bytes) -> str | None:
    """The audio fast path: the base64 payload of a caller `media` frame, checked as `decode`
    checks it. None for any other frame, and for a media frame `decode` would refuse: the
    caller then decodes it in full (which raises the error)."""
    if type(text) is not str or len(text) > MAX_FRAME_CHARS or not text.startswith(_MEDIA_PREFIXES):
        return None
    match = _MEDIA_FRAME.fullmatch(text)
    if match is not None:  # Twilio's own layout
        b64: str = match.group(1)
        return b64 if len(b64) % 4 == 0 else None
    try:
        msg = json.loads(text)
    except (ValueError, RecursionError):
        return None
    media = msg.get("media") if type(msg) is dict and msg.get("event") == "media" else None
    if type(media) is not dict:
        return None
    payload = media.get("payload")
    if (
        type(payload) is not str
        or not is_base64(payload)
        or not _counter(media.get("timestamp", "0"))
        or not _counter(media.get("chunk", "0"))
    ):
        return None
    return payload


def decode(text: str | bytes) -> TwilioEvent:
    """Parse one Twilio frame. Raises ProtocolError on malformed input; unknown events decode
    to `Unknown` so the caller can log and ignore them (Twilio adds events without notice)."""
    if isinstance(text, bytes):
        raise ProtocolError("binary frames are not part of the Media Streams protocol")
    if len(text) > MAX_FRAME_CHARS:
        raise ProtocolError(f"frame of {len(text)} chars exceeds {MAX_FRAME_CHARS}")
    try:
        msg = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ProtocolError(f"invalid JSON: {exc.msg}") from None
    except RecursionError:
        raise ProtocolError("JSON nested too deeply") from None
    if not isinstance(msg, dict):
        raise ProtocolError("frame must be a JSON object")
    event = msg.get("event")
    if event == "media":
        media = _obj(msg, "media")
        payload = _str(media, "payload", "media")
        if not is_base64(payload):
            raise ProtocolError("media.payload is not base64")
        return Media(
            payload=payload,
            timestamp_ms=_int(media.get("timestamp", "0"), "media.timestamp"),
            chunk=_int(media.get("chunk", "0"), "media.chunk"),
        )
    if event == "mark":
        return Mark(name=_str(_obj(msg, "mark"), "name", "mark"))
    if event == "start":
        start = _obj(msg, "start")
        params = start.get("customParameters", {})
        if not isinstance(params, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in params.items()
        ):
            raise ProtocolError("start.customParameters must map strings to strings")
        fmt = start.get("mediaFormat") or {}
        if not isinstance(fmt, dict):
            raise ProtocolError("start.mediaFormat must be an object")
        return Start(
            stream_sid=_str(start, "streamSid", "start"),
            call_sid=_str(start, "callSid", "start"),
            account_sid=_str(start, "accountSid", "start"),
            custom_parameters=dict(params),
            encoding=str(fmt.get("encoding", "audio/x-mulaw")),
            sample_rate=_int(fmt.get("sampleRate", 8000), "start.mediaFormat.sampleRate"),
        )
    if event == "dtmf":
        digit = _str(_obj(msg, "dtmf"), "digit", "dtmf")
        if len(digit) != 1 or digit not in "0123456789*#ABCD":
            raise ProtocolError("dtmf.digit must be one key")
        return Dtmf(digit=digit)
    if event == "stop":
        stop = msg.get("stop")
        call_sid = stop.get("callSid", "") if isinstance(stop, dict) else ""
        return Stop(call_sid=str(call_sid))
    if event == "connected":
        return Connected(protocol=str(msg.get("protocol", "")))
    if isinstance(event, str):
        return Unknown(event=event)
    raise ProtocolError("frame has no 'event'")


def encode_media(stream_sid: str, payload: str) -> str:
    if json_plain(stream_sid) and json_plain(payload):
        return (
            '{"event":"media","streamSid":"'
            + stream_sid
            + '","media":{"payload":"'
            + payload
            + '"}}'
        )
    return json.dumps(
        {"event": "media", "streamSid": stream_sid, "media": {"payload": payload}},
        separators=(",", ":"),
    )


def encode_mark(stream_sid: str, name: str) -> str:
    if json_plain(stream_sid) and json_plain(name):
        return '{"event":"mark","streamSid":"' + stream_sid + '","mark":{"name":"' + name + '"}}'
    return json.dumps(
        {"event": "mark", "streamSid": stream_sid, "mark": {"name": name}},
        separators=(",", ":"),
    )


def encode_clear(stream_sid: str) -> str:
    if json_plain(stream_sid):
        return '{"event":"clear","streamSid":"' + stream_sid + '"}'
    return json.dumps({"event": "clear", "streamSid": stream_sid}, separators=(",", ":"))
