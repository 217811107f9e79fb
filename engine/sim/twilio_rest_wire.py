"""What every endpoint group of the Twilio REST fake (engine.sim.twilio_rest) shares: the
account path prefix, HTTP Basic credentials and the account check, Twilio's legacy error JSON,
RFC 2822 dates, one-page list bodies, and the calls a path can name.

No I/O of its own: helpers over aiohttp requests and responses, and `RestBase`, the state the
endpoint groups (twilio_rest_calls, _queues, _recordings, _messages) all read.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

from aiohttp import web

API = "/2010-04-01/Accounts/{account_sid}"
LIVE = frozenset({"queued", "ringing", "in-progress"})


@dataclass(frozen=True, slots=True)
class RestRequest:
    method: str
    path: str
    params: dict[str, str]  # form fields of a POST, query of a GET
    account_sid: str | None  # Basic auth username
    time: float  # time.monotonic()
    status: int


@dataclass(slots=True)
class FakeCall:
    sid: str
    account_sid: str
    from_number: str
    to_number: str
    status: str = "in-progress"
    created: datetime = field(default_factory=lambda: datetime.now(UTC))
    updated: datetime = field(default_factory=lambda: datetime.now(UTC))
    ended: datetime | None = None
    duration_s: int | None = None
    direction: str = "inbound"


def rfc2822(dt: datetime | None) -> str | None:
    return format_datetime(dt) if dt is not None else None


def twilio_error(status: int, code: int, message: str) -> web.Response:
    body = {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }
    headers = {"WWW-Authenticate": 'Basic realm="Twilio API"'} if status == 401 else None
    return web.json_response(body, status=status, headers=headers)


def basic_credentials(header: str) -> tuple[str, str] | None:
    """(username, password) of an HTTP Basic Authorization header, None when absent or bad."""
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("latin-1")
    except (binascii.Error, ValueError):
        return None
    login, sep, password = decoded.partition(":")
    return (login, password) if sep else None


def not_found(request: web.Request) -> web.Response:
    return twilio_error(404, 20404, f"The requested resource {request.path} was not found")


def page(request: web.Request, key: str, items: list[dict[str, Any]]) -> dict[str, Any]:
    """One page holding everything (the fake's lists are short)."""
    return {
        key: items,
        "end": max(len(items) - 1, 0),
        "first_page_uri": request.path + "?PageSize=50&Page=0",
        "next_page_uri": None,
        "page": 0,
        "page_size": 50,
        "previous_page_uri": None,
        "start": 0,
        "uri": request.path,
    }


def check_auth(request: web.Request, accounts: dict[str, str] | None) -> web.Response | None:
    """None when the request's Basic credentials may act on the path's account, else the error
    (`accounts`: token by account or API key sid; None lets any credentials in)."""
    creds = basic_credentials(request.headers.get("Authorization", ""))
    if creds is None:
        return twilio_error(401, 20003, "Authenticate")
    login, password = creds
    if accounts is not None:
        token = accounts.get(login)
        if token is None or not hmac.compare_digest(token, password):
            return twilio_error(401, 20003, "Authenticate")
    if login != request.match_info["account_sid"] and not login.startswith("SK"):
        return not_found(request)
    return None


class RestBase:
    """What every endpoint group reads: the calls known to the fake, by CallSid."""

    calls: dict[str, FakeCall]

    def _live_call(self, request: web.Request) -> FakeCall | None:
        call = self.calls.get(request.match_info["call_sid"])
        account = request.match_info["account_sid"]
        if call is None or (call.account_sid and call.account_sid != account):
            return None
        return call
