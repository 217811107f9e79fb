"""The Twilio side of the Media Streams protocol, as JSON text: what the simulated caller sends
and how it reads what the server sends back.

Pure: builders for `connected`, `start`, `media`, `mark`, `dtmf` and `stop`, and the decoding of
a server message (`media`, `mark`, `clear`) into a small event or a `Violation` naming the
Twilio error (31924) the real platform would log. Media messages are built by string formatting
and inbound payloads decoded with binascii: hundreds of streams share one event loop.
"""

from __future__ import annotations

import binascii
import json
from dataclasses import dataclass
from typing import Any

from engine.audio import FRAME_MS, b64, silence

FRAME_S = FRAME_MS / 1000
SILENCE_PAYLOAD = b64(silence(FRAME_MS))


def dumps(obj: dict[str, Any]) -> str:
    return json.dumps(obj, separators=(",", ":"))


def connected_message() -> str:
    return dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"})


def start_message(
    seq: str,
    stream_sid: str,
    *,
    account_sid: str,
    call_sid: str,
    custom_parameters: dict[str, str],
) -> str:
    return dumps(
        {
            "event": "start",
            "sequenceNumber": seq,
            "streamSid": stream_sid,
            "start": {
                "accountSid": account_sid,
                "streamSid": stream_sid,
                "callSid": call_sid,
                "tracks": ["inbound"],
                "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
                "customParameters": custom_parameters,
            },
        }
    )


def media_message(seq: str, stream_sid: str, chunk: int, payload: str) -> str:
    """Media frame number `chunk` (20 ms each, timestamps from the stream's start)."""
    return (
        f'{{"event":"media","sequenceNumber":"{seq}","streamSid":"{stream_sid}",'
        f'"media":{{"track":"inbound","chunk":"{chunk}","timestamp":"{chunk * FRAME_MS}",'
        f'"payload":"{payload}"}}}}'
    )


def mark_message(seq: str, stream_sid: str, name: str) -> str:
    return dumps(
        {"event": "mark", "sequenceNumber": seq, "streamSid": stream_sid, "mark": {"name": name}}
    )


def dtmf_message(seq: str, stream_sid: str, digit: str) -> str:
    return dumps(
        {
            "event": "dtmf",
            "streamSid": stream_sid,
            "sequenceNumber": seq,
            "dtmf": {"track": "inbound_track", "digit": digit},
        }
    )


def stop_message(seq: str, stream_sid: str, *, account_sid: str, call_sid: str) -> str:
    return dumps(
        {
            "event": "stop",
            "sequenceNumber": seq,
            "streamSid": stream_sid,
            "stop": {"accountSid": account_sid, "callSid": call_sid},
        }
    )


# --- inbound -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Violation:
    """The server broke the protocol; `text` starts with Twilio's error code."""

    text: str


@dataclass(frozen=True, slots=True)
class ClearIn:
    """`clear`: drop the buffered audio."""


@dataclass(frozen=True, slots=True)
class MarkIn:
    name: str


@dataclass(frozen=True, slots=True)
class MediaIn:
    data: bytes


def json_object(raw: str | bytes) -> dict[str, Any] | Violation:
    """The server message as a JSON object, or why it is not one."""
    if isinstance(raw, bytes):
        return Violation("31924 binary WebSocket message from the server (JSON text expected)")
    try:
        msg = json.loads(raw)
    except ValueError:
        return Violation(f"31924 malformed JSON from the server: {raw[:80]!r}")
    if not isinstance(msg, dict):
        return Violation(f"31924 server message is not a JSON object: {raw[:80]!r}")
    return msg


def server_event(msg: dict[str, Any], stream_sid: str) -> ClearIn | MarkIn | MediaIn | Violation:
    """What a server message on stream `stream_sid` asks of the caller's playback."""
    event = msg.get("event")
    if event not in ("media", "mark", "clear"):
        return Violation(f"31924 unknown event {event!r} from the server")
    if msg.get("streamSid") != stream_sid:
        return Violation(f"31924 {event} with streamSid {msg.get('streamSid')!r}, not ours")
    if event == "clear":
        return ClearIn()
    body = msg.get(event)
    if event == "mark":
        name = body.get("name") if isinstance(body, dict) else None
        if not isinstance(name, str):
            return Violation("31924 mark without mark.name")
        return MarkIn(name)
    payload = body.get("payload") if isinstance(body, dict) else None
    if not isinstance(payload, str):
        return Violation("31924 media without media.payload")
    try:
        return MediaIn(binascii.a2b_base64(payload, strict_mode=True))
    except binascii.Error:
        return Violation("31924 media.payload is not valid base64")
