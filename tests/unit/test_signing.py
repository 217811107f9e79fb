"""Webhook and tool signatures, and the sealing of their secrets."""

from __future__ import annotations

import pytest

from engine.secret_box import WEBHOOK_LABEL, SecretBox, SecretBoxError
from engine.signing import BadSignature, sign, verify
from engine.webhook_sender import retry_after_s

BODY = b'{"id":"e1","type":"call.ended"}'


def test_a_signature_verifies_and_returns_its_timestamp() -> None:
    header = sign("s3cret", BODY, 1_700_000_000.7)
    assert header.startswith("t=1700000000,v1=")
    assert verify("s3cret", BODY, header, 1_700_000_010) == 1_700_000_000


@pytest.mark.parametrize(
    ("secret", "body", "now"),
    [
        ("other", BODY, 1_700_000_000),  # wrong secret
        ("s3cret", BODY + b" ", 1_700_000_000),  # body changed
        ("s3cret", BODY, 1_700_000_000 + 301),  # replayed after the tolerance
    ],
)
def test_a_wrong_secret_changed_body_or_stale_signature_is_refused(
    secret: str, body: bytes, now: float
) -> None:
    with pytest.raises(BadSignature):
        verify(secret, body, sign("s3cret", BODY, 1_700_000_000), now)


@pytest.mark.parametrize("header", ["", "t=abc,v1=00", "v1=00", "t=1700000000", "garbage"])
def test_a_malformed_header_is_refused(header: str) -> None:
    with pytest.raises(BadSignature, match="malformed"):
        verify("s3cret", BODY, header, 1_700_000_000)


def test_a_rotating_receiver_accepts_either_signature() -> None:
    good = sign("s3cret", BODY, 1_700_000_000).split(",")[1]
    assert verify("s3cret", BODY, f"t=1700000000,v1=00ff,{good}", 1_700_000_000)


def test_a_sealed_secret_opens_only_with_its_key_and_label() -> None:
    box = SecretBox("engine-key", WEBHOOK_LABEL)
    sealed = box.seal("whsec_abc")
    assert b"whsec_abc" not in sealed
    assert box.open(sealed) == "whsec_abc"
    assert box.seal("whsec_abc") != sealed  # fresh nonce each time
    for wrong in (SecretBox("other-key", WEBHOOK_LABEL), SecretBox("engine-key", "tool")):
        with pytest.raises(SecretBoxError):
            wrong.open(sealed)
    with pytest.raises(SecretBoxError):
        box.open(sealed[:-1] + bytes([sealed[-1] ^ 1]))
    with pytest.raises(SecretBoxError, match="not a sealed secret"):
        box.open(b"plain")


def test_retry_after_is_read_in_seconds_and_bounded() -> None:
    assert retry_after_s("7") == 7.0
    assert retry_after_s("Wed, 21 Oct 2026 07:28:00 GMT") is None
    assert retry_after_s("999999") == 3600.0
    assert retry_after_s(None) is None
