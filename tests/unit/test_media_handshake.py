"""The media handshake check (actors.media_handshake.refusal): Twilio's signature over the media
URL with the tenant's token, one stream per call, no stream for a call that is over."""

from __future__ import annotations

from http import HTTPStatus

import structlog
from structlog.testing import capture_logs
from twilio.request_validator import RequestValidator

from actors.media_handshake import SIGNATURE_HEADER, check, refusal

URL = "wss://media.example.com/media/CA1"
TOKEN = "tenant-auth-token"


def signed(url: str = URL, token: str = TOKEN) -> str:
    return str(RequestValidator(token).compute_signature(url, {}))


def test_a_handshake_signed_with_the_token_over_the_media_url_may_open_the_stream() -> None:
    assert (
        refusal(ended=False, connected=False, auth_token=TOKEN, media_url=URL, signature=signed())
        is None
    )


def test_a_missing_or_wrong_signature_or_no_token_is_forbidden() -> None:
    forbidden = (HTTPStatus.FORBIDDEN, "invalid signature")
    for token, signature in (
        (TOKEN, ""),
        (TOKEN, signed(token="someone-elses-token")),
        (TOKEN, signed(url=URL.replace("CA1", "CA2"))),
        (None, signed()),
        ("", signed()),
    ):
        got = refusal(
            ended=False, connected=False, auth_token=token, media_url=URL, signature=signature
        )
        assert got == forbidden, (token, signature)


def test_a_call_that_is_over_or_already_streaming_refuses_even_a_signed_handshake() -> None:
    over = refusal(ended=True, connected=False, auth_token=TOKEN, media_url=URL, signature=signed())
    assert over == (HTTPStatus.SERVICE_UNAVAILABLE, "no call here")
    second = refusal(
        ended=False, connected=True, auth_token=TOKEN, media_url=URL, signature=signed()
    )
    assert second == (HTTPStatus.CONFLICT, "stream already connected")


def test_the_handshake_headers_are_checked_and_a_bad_signature_is_logged_without_it() -> None:
    log = structlog.get_logger()
    with capture_logs() as logs:
        ok = check({SIGNATURE_HEADER: signed()}, URL, TOKEN, log, False, False)
        bad = check({SIGNATURE_HEADER: "forged"}, URL, TOKEN, log, False, False)
        over = check({SIGNATURE_HEADER: signed()}, URL, TOKEN, log, True, False)
    assert ok is None
    assert bad == (HTTPStatus.FORBIDDEN, "invalid signature")
    assert over == (HTTPStatus.SERVICE_UNAVAILABLE, "no call here")
    assert logs == [
        {"event": "media_handshake_rejected", "reason": "bad signature", "log_level": "warning"}
    ]
