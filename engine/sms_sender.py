"""Sending one text through the Twilio Messaging API. I/O: HTTPS via the official SDK, whose
client is synchronous, so each request runs in a worker thread under a timeout.

Twilio takes no idempotency key for messages, so a text carries a short reference and, on any
attempt after the first (the previous one may have reached Twilio before its answer was lost),
the sender first lists today's messages from the same number to the same recipient and treats
one carrying the reference as already sent. Outcomes are classified, never raised: Twilio's
21610 (the recipient replied STOP) is final and reported as an opt-out; other 4xx are final;
timeouts, 5xx, 408 and 429 are worth retrying (engine.errors.status_retryable).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from engine.errors import status_retryable

UNSUBSCRIBED = 21610


@dataclass(frozen=True, slots=True)
class SmsAccount:
    account_sid: str
    auth_token: str = field(repr=False)
    api_base_url: str = "https://api.twilio.com"


@dataclass(frozen=True, slots=True)
class SmsOutcome:
    sent: bool
    retryable: bool = False
    status_code: int | None = None
    error: str | None = None
    opted_out: bool = False


def _client(account: SmsAccount) -> Any:
    from twilio.rest import Client

    client = Client(account.account_sid, account.auth_token)
    client.api.base_url = account.api_base_url.rstrip("/")
    return client


def _already_sent(client: Any, from_: str, to: str, ref: str) -> bool:
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    for message in client.messages.list(to=to, from_=from_, date_sent_after=today, limit=200):
        if ref in (message.body or ""):
            return True
    return False


def _send(account: SmsAccount, from_: str, to: str, body: str, ref: str, check: bool) -> SmsOutcome:
    from twilio.base.exceptions import TwilioRestException

    client = _client(account)
    try:
        if check and _already_sent(client, from_, to, ref):
            return SmsOutcome(sent=True, status_code=200)
        client.messages.create(to=to, from_=from_, body=body)
    except TwilioRestException as exc:
        error = f"Twilio {exc.status} code {exc.code}"
        if exc.code == UNSUBSCRIBED:
            return SmsOutcome(False, False, exc.status, error, opted_out=True)
        return SmsOutcome(False, status_retryable(exc.status), exc.status, error)
    except OSError as exc:
        return SmsOutcome(False, True, None, f"Twilio unreachable: {exc}"[:300])
    return SmsOutcome(sent=True, status_code=201)


async def send_sms(
    account: SmsAccount,
    from_: str,
    to: str,
    body: str,
    *,
    ref: str,
    check_first: bool,
    timeout_s: float = 10.0,
) -> SmsOutcome:
    """Send ``body`` (which must contain ``ref``) unless ``check_first`` finds it was sent."""
    try:
        return await asyncio.wait_for(
            asyncio.to_thread(_send, account, from_, to, body, ref, check_first), timeout_s
        )
    except TimeoutError:
        return SmsOutcome(False, True, None, "Twilio did not answer in time")
