"""HMAC signatures over a timestamp and a body, for what the engine sends to an agency's own
systems (webhooks, tenant-defined tools) and for receivers that check them. Pure: no I/O.

Header `NeuroSphere-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`.
The timestamp inside the signed text lets a receiver refuse replays older than its tolerance;
several `v1=` values may appear while a secret is being rotated.
"""

from __future__ import annotations

import hashlib
import hmac

SIGNATURE_HEADER = "NeuroSphere-Signature"
DEFAULT_TOLERANCE_S = 300


class BadSignature(ValueError):
    """The signature header is missing, malformed, stale or does not match."""


def _digest(secret: str, timestamp: int, body: bytes) -> str:
    signed = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def sign(secret: str, body: bytes, now: float) -> str:
    """The signature header value for ``body`` sent at ``now`` (unix seconds)."""
    timestamp = int(now)
    return f"t={timestamp},v1={_digest(secret, timestamp, body)}"


def verify(
    secret: str, body: bytes, header: str, now: float, *, tolerance_s: int = DEFAULT_TOLERANCE_S
) -> int:
    """Check a signature header; the signed timestamp, or BadSignature."""
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        if name == "t" and value.isdigit():
            timestamp = int(value)
        elif name == "v1" and value:
            candidates.append(value)
    if timestamp is None or not candidates:
        raise BadSignature("malformed signature header")
    if abs(now - timestamp) > tolerance_s:
        raise BadSignature("signature timestamp outside the tolerance")
    expected = _digest(secret, timestamp, body)
    if not any(hmac.compare_digest(expected, c) for c in candidates):
        raise BadSignature("signature does not match")
    return timestamp
