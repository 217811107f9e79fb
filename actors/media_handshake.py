"""Whether a WebSocket handshake on a call's media URL may open the call's Twilio stream: the
call must still be on, no stream already connected, and the handshake signed by Twilio with the
tenant's auth token (or the platform's) over the media URL. Pure: the call's state and the
request's signature are passed in.
"""

from __future__ import annotations

from collections.abc import Mapping
from http import HTTPStatus

import structlog
from twilio.request_validator import RequestValidator

Refusal = tuple[HTTPStatus, str]
Log = structlog.typing.FilteringBoundLogger

SIGNATURE_HEADER = "X-Twilio-Signature"


def refusal(
    *, ended: bool, connected: bool, auth_token: str | None, media_url: str, signature: str
) -> Refusal | None:
    """Why the handshake may not open the stream (an HTTP status and a reason), or None."""
    if ended:
        return HTTPStatus.SERVICE_UNAVAILABLE, "no call here"
    if connected:
        return HTTPStatus.CONFLICT, "stream already connected"
    if (
        not auth_token
        or not signature
        or not RequestValidator(auth_token).validate(media_url, {}, signature)
    ):
        return HTTPStatus.FORBIDDEN, "invalid signature"
    return None


def check(
    headers: Mapping[str, str],
    media_url: str,
    auth_token: str | None,
    log: Log,
    ended: bool,
    connected: bool,
) -> Refusal | None:
    """`refusal` for a handshake's headers; a bad signature is logged (no signature in it)."""
    signature = headers.get(SIGNATURE_HEADER, "")
    found = refusal(
        ended=ended,
        connected=connected,
        auth_token=auth_token,
        media_url=media_url,
        signature=signature,
    )
    if found is not None and found[0] is HTTPStatus.FORBIDDEN:
        log.warning("media_handshake_rejected", reason="bad signature")
    return found
