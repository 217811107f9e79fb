"""Checks the audio fast path splices wire text with, in C-speed string methods. Pure.

Both sides of a call carry audio as base64 text inside small JSON frames. Relaying a frame needs
neither a base64 decode nor a JSON encoder when its strings need no escaping: then the frame can
be spliced together, and the text is what `json.dumps(..., separators=(",", ":"))` would have
written, byte for byte (engine.twilio_codec, engine.realtime_codec).
"""

from __future__ import annotations

_B64_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def is_base64(text: str) -> bool:
    """Standard base64 with its padding (what Twilio and the model send); checked, not
    decoded."""
    if len(text) % 4 or not text.isascii():
        return False
    body = text.rstrip("=")
    if len(text) - len(body) > 2:
        return False
    return not body.encode("ascii").translate(None, _B64_ALPHABET)


def json_plain(text: str) -> bool:
    """True when JSON writes `text` as it is between its quotes (no character to escape)."""
    return text.isascii() and text.isprintable() and '"' not in text and "\\" not in text
