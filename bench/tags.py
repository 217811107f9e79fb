"""Frame tags: every audio frame of a benchmark run carries its own identity. Pure, no I/O.

Silence frames are all alike and a scripted reply sounds the same in every call, so a frame
seen at the far end could not be told from its neighbours by its bytes alone. The load side
therefore stamps a tag into the first 12 mu-law bytes of every frame it sends: two magic
nibbles, a 16-bit stream number and a 24-bit frame counter, one nibble per byte as the mu-law
codes 0xF0..0xFF (linear amplitude 0..120 of 32767: inaudible, far below any VAD threshold).

12 bytes are exactly 16 base64 characters, so a tag is stamped into, and read from, a base64
payload by slicing strings: no decoding of the rest of the frame. A relay that passes payloads
through untouched (the engine's promise) delivers the tag intact; one that re-encodes audio
would show up as frames lost.

`frame_key` turns any payload into an integer key: the tag when it carries one, otherwise a
CRC32 (marked so it cannot collide with a tag) - used for audio nobody stamped.
"""

from __future__ import annotations

import base64
import binascii
import zlib

TAG_BYTES = 12
TAG_CHARS = 16  # base64 characters covering TAG_BYTES
STREAM_BITS = 16
COUNTER_BITS = 24
MAX_STREAM = (1 << STREAM_BITS) - 1
MAX_COUNTER = (1 << COUNTER_BITS) - 1
UNTAGGED = 1 << 48  # set in keys that are a CRC, not a tag
_MAGIC = b"\xfa\xf5"
_TO_HEX = bytes.maketrans(bytes(range(0xF0, 0x100)), b"0123456789abcdef")
_FROM_HEX = bytes.maketrans(b"0123456789abcdef", bytes(range(0xF0, 0x100)))


def tag_bytes(stream: int, counter: int) -> bytes:
    """The 12 mu-law bytes of the tag for frame `counter` of stream `stream`."""
    if not 0 <= stream <= MAX_STREAM or not 0 <= counter <= MAX_COUNTER:
        raise ValueError(f"tag out of range: stream={stream} counter={counter}")
    digits = f"{stream:04x}{counter:06x}".encode()
    return _MAGIC + digits.translate(_FROM_HEX)


def stamp(payload: str, stream: int, counter: int) -> str:
    """`payload` (base64 mu-law, more than 12 bytes) with the tag in its first 12 bytes."""
    if len(payload) <= TAG_CHARS:
        raise ValueError("payload too short to carry a tag")
    return base64.b64encode(tag_bytes(stream, counter)).decode("ascii") + payload[TAG_CHARS:]


def can_stamp(payload: str) -> bool:
    return len(payload) > TAG_CHARS


def read_tag(payload: str) -> tuple[int, int] | None:
    """(stream, counter) of a stamped payload, or None when it carries no tag."""
    if len(payload) < TAG_CHARS:
        return None
    try:
        head = binascii.a2b_base64(payload[:TAG_CHARS])
    except (binascii.Error, ValueError):
        return None
    if head[:2] != _MAGIC or min(head[2:]) < 0xF0:
        return None
    digits = head[2:].translate(_TO_HEX)
    return int(digits[:4], 16), int(digits[4:], 16)


def make_key(stream: int, counter: int) -> int:
    return (stream << COUNTER_BITS) | counter


def key_stream(key: int) -> int | None:
    """The stream number inside a tag key (None for an untagged CRC key)."""
    if key & UNTAGGED:
        return None
    return key >> COUNTER_BITS


def frame_key(payload: str) -> int:
    """An integer identifying this payload: its tag, or a marked CRC32 of the text."""
    tag = read_tag(payload)
    if tag is not None:
        return make_key(*tag)
    return UNTAGGED | zlib.crc32(payload.encode("ascii", "replace"))
