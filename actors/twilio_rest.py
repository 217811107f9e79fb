"""Controlling a live call through the Twilio REST API (I/O: HTTPS via the official SDK).

Hang-up is `calls(sid).update(status="completed")`; a transfer is
`calls(sid).update(twiml=...)`; a recording is started with `calls(sid).recordings.create(...)`
and stopped with `calls(sid).recordings("Twilio.CURRENT").update(status="stopped")`;
a warm transfer's call to the target is `calls.create(...)`; a queued caller is dequeued with
`queues(sid).members(CallSid).update(url=...)`; `fetch_call` reads a call's
status as Twilio has it (start-up reconciliation after a crash).
The SDK's default HTTP client is synchronous, so each request runs in a worker thread and
never blocks an event loop. The API base URL is configurable (`TWILIO_API_BASE_URL`), which is
how tests point it at the shipped REST fake.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from engine.errors import RetryableError, status_retryable

REST_TIMEOUT_S = 10.0


class CallControlError(RetryableError):
    """A call update Twilio refused or that could not reach it."""


@dataclass(frozen=True, slots=True)
class TwilioAccount:
    account_sid: str
    auth_token: str = field(repr=False)
    api_base_url: str = "https://api.twilio.com"


def _client(account: TwilioAccount) -> Any:
    # Imported here: the SDK's REST client costs ~5 MB per process, and this module is
    # reachable from call actors (through the handles module) that never use it.
    from twilio.rest import Client

    client = Client(account.account_sid, account.auth_token)
    client.api.base_url = account.api_base_url.rstrip("/")
    return client


def _update(account: TwilioAccount, call_sid: str, **params: str) -> None:
    _request(account, lambda client: client.calls(call_sid).update(**params))


def _refused(what: str, exc: Any) -> CallControlError:
    """A TwilioRestException as the error callers handle (4xx not retryable but 408/429)."""
    return CallControlError(
        f"Twilio refused the {what} ({exc.status}, code {exc.code})",
        retryable=status_retryable(exc.status),
    )


def _request(account: TwilioAccount, act: Callable[[Any], object]) -> None:
    from twilio.base.exceptions import TwilioRestException

    try:
        act(_client(account))
    except TwilioRestException as exc:
        raise _refused("call update", exc) from None
    except OSError as exc:
        raise CallControlError(f"Twilio unreachable: {exc}", retryable=True) from None


@dataclass(frozen=True, slots=True)
class TwilioCall:
    """A call as Twilio's Calls resource describes it."""

    status: str  # queued, ringing, in-progress, completed, busy, failed, no-answer, canceled
    duration_s: int | None
    ended_at: datetime | None


def _fetch(account: TwilioAccount, call_sid: str) -> TwilioCall | None:
    from twilio.base.exceptions import TwilioRestException

    try:
        call = _client(account).calls(call_sid).fetch()
    except TwilioRestException as exc:
        if exc.status == 404:
            return None
        raise _refused("call fetch", exc) from None
    except OSError as exc:
        raise CallControlError(f"Twilio unreachable: {exc}", retryable=True) from None
    duration = call.duration
    return TwilioCall(
        status=str(call.status),
        duration_s=int(duration) if duration not in (None, "") else None,
        ended_at=call.end_time,
    )


async def fetch_call(account: TwilioAccount, call_sid: str) -> TwilioCall | None:
    """The call's status at Twilio; None when Twilio does not know the call."""
    return await asyncio.wait_for(asyncio.to_thread(_fetch, account, call_sid), REST_TIMEOUT_S)


async def hang_up(account: TwilioAccount, call_sid: str) -> None:
    await asyncio.wait_for(
        asyncio.to_thread(_update, account, call_sid, status="completed"), REST_TIMEOUT_S
    )


async def redirect(account: TwilioAccount, call_sid: str, twiml: str) -> None:
    await asyncio.wait_for(
        asyncio.to_thread(_update, account, call_sid, twiml=twiml), REST_TIMEOUT_S
    )


async def redirect_url(account: TwilioAccount, call_sid: str, url: str) -> None:
    """The live call fetches its next TwiML from `url` (POST)."""
    await asyncio.wait_for(
        asyncio.to_thread(_update, account, call_sid, url=url, method="POST"), REST_TIMEOUT_S
    )


async def start_recording(account: TwilioAccount, call_sid: str, status_callback: str) -> None:
    """Record the live call from now (both parties, one channel), Twilio reporting the finished
    recording to `status_callback` as it does for a recording started by TwiML."""

    def act(client: Any) -> object:
        return client.calls(call_sid).recordings.create(
            recording_status_callback=status_callback,
            recording_status_callback_event=["completed"],
        )

    await asyncio.wait_for(asyncio.to_thread(_request, account, act), REST_TIMEOUT_S)


async def stop_recording(account: TwilioAccount, call_sid: str) -> None:
    """Stop the call's running recording."""

    def act(client: Any) -> object:
        return client.calls(call_sid).recordings("Twilio.CURRENT").update(status="stopped")

    await asyncio.wait_for(asyncio.to_thread(_request, account, act), REST_TIMEOUT_S)


async def delete_recording(account: TwilioAccount, recording_sid: str) -> None:
    """Delete a recording (and its media) at Twilio."""

    def act(client: Any) -> object:
        return client.recordings(recording_sid).delete()

    await asyncio.wait_for(asyncio.to_thread(_request, account, act), REST_TIMEOUT_S)


def _create(account: TwilioAccount, params: dict[str, Any]) -> str:
    sids: list[str] = []

    def act(client: Any) -> object:
        call = client.calls.create(**params)
        sids.append(str(call.sid))
        return call

    _request(account, act)
    return sids[0]


async def place_call(
    account: TwilioAccount,
    *,
    to: str,
    from_: str,
    twiml: str,
    status_callback: str,
    timeout_s: int,
) -> str:
    """Call `to` with `twiml` run when answered; Twilio reports the call's progress (ringing,
    answered, completed, busy, no-answer, failed) to `status_callback`. Returns the CallSid."""
    params: dict[str, Any] = {
        "to": to,
        "from_": from_,
        "twiml": twiml,
        "status_callback": status_callback,
        "status_callback_event": ["initiated", "ringing", "answered", "completed"],
        "status_callback_method": "POST",
        "timeout": timeout_s,
    }
    return await asyncio.wait_for(asyncio.to_thread(_create, account, params), REST_TIMEOUT_S)


def _dequeue(account: TwilioAccount, queue_sid: str, call_sid: str, url: str) -> bool:
    from twilio.base.exceptions import TwilioRestException

    try:
        _client(account).queues(queue_sid).members(call_sid).update(url=url, method="POST")
    except TwilioRestException as exc:
        if exc.status == 404:
            return False
        raise _refused("dequeue", exc) from None
    except OSError as exc:
        raise CallControlError(f"Twilio unreachable: {exc}", retryable=True) from None
    return True


async def dequeue(account: TwilioAccount, queue_sid: str, call_sid: str, url: str) -> bool:
    """Take the caller off the queue onto the TwiML at `url` (POST). False when the call is
    not in the queue (it hung up or left)."""
    return await asyncio.wait_for(
        asyncio.to_thread(_dequeue, account, queue_sid, call_sid, url), REST_TIMEOUT_S
    )
