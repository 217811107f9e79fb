"""Closing the calls a crash left open, at start-up, from what Twilio says of each. I/O: Postgres
(memory.calls) and the Twilio REST API (actors.twilio_rest), both passed in.

A call row with no end was held by an engine that died before the call's end was written (a
SIGTERM drains and records every outcome; a crash does not). For each such call that no live
call actor holds, Twilio's Calls resource decides:
- ended there (completed, busy, failed, no-answer, canceled): the row is closed with Twilio's
  status, end time and duration, its end reported through the outbox and its post-call work
  queued;
- unknown to Twilio: closed as `engine_crash`, post-call work queued (its turns are kept);
- still live there and younger than the tenant's call length limit: left open. Its media stream
  died with the engine, so Twilio asks the `<Connect action>`, which resumes the call on a new
  actor; or it ends and Twilio's status callback closes the row;
- still live past the call length limit: nothing will resume it any more (a resume is granted
  only within that age), so it is hung up through the REST API and closed as `engine_crash`.
A call Twilio could not be asked about stays open for the next start (and its status callback);
once Twilio proves unreachable, the tenant's remaining calls wait for the next start too.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from actors import twilio_rest
from actors.twilio_rest import CallControlError, TwilioAccount
from memory import calls
from memory.calls import TERMINAL_STATUSES, Closing

CRASH_OUTCOME = "engine_crash"


@dataclass(frozen=True, slots=True)
class Reconciled:
    closed: int = 0  # ended at Twilio (or unknown there): closed with their outcome
    hung_up: int = 0  # live at Twilio past the call length limit: hung up and closed
    live: int = 0  # live at Twilio: left to resume or to their status callback
    failed: int = 0  # Twilio could not be asked, or said no: left open


async def reconcile(
    pool: asyncpg.Pool,
    tenant_id: str,
    account: TwilioAccount,
    *,
    held: Collection[str],
    started_before: datetime,
    max_call_s: float,
    post_call_queue: str,
    outbox_queue: str,
    log: Any,
) -> Reconciled:
    """Close this tenant's calls left open (see the module docstring); those in ``held`` are
    served by a live call actor and are not touched."""
    counts = {"closed": 0, "hung_up": 0, "live": 0, "failed": 0}
    limit = datetime.now(UTC) - timedelta(seconds=max_call_s)
    for call in await calls.open_calls(pool, tenant_id, started_before):
        if call.call_sid in held:
            continue
        try:
            twilio = await twilio_rest.fetch_call(account, call.call_sid)
        except (CallControlError, TimeoutError) as exc:
            log.warning("call_reconcile_failed", call_sid=call.call_sid, error=repr(exc))
            counts["failed"] += 1
            if not isinstance(exc, CallControlError) or exc.retryable:
                break  # Twilio unreachable or failing: the rest wait for the next start
            continue
        kind = "closed"
        if twilio is None:
            closing = Closing(CRASH_OUTCOME, "open after an engine crash; unknown to Twilio")
        elif twilio.status in TERMINAL_STATUSES:
            closing = Closing(
                f"twilio_{twilio.status}",
                "open after an engine crash; closed from Twilio's record",
                twilio_status=twilio.status,
                duration_s=twilio.duration_s,
                ended_at=twilio.ended_at,
            )
        elif call.started_at > limit:
            log.info("call_reconcile_live", call_sid=call.call_sid, status=twilio.status)
            counts["live"] += 1
            continue
        else:
            try:
                await twilio_rest.hang_up(account, call.call_sid)
            except (CallControlError, TimeoutError) as exc:
                log.warning("call_reconcile_failed", call_sid=call.call_sid, error=repr(exc))
                counts["failed"] += 1
                continue
            closing = Closing(
                CRASH_OUTCOME,
                "open after an engine crash; live at Twilio past the call length limit, hung up",
            )
            kind = "hung_up"
        if await calls.close_open_call(
            pool, tenant_id, call.call_sid, closing, post_call_queue, outbox_queue=outbox_queue
        ):
            log.info("call_reconciled", call_sid=call.call_sid, outcome=closing.outcome)
            counts[kind] += 1
    return Reconciled(**counts)


async def reconcile_with_own_pool(database_url: str, *args: Any, **kwargs: Any) -> Reconciled:
    """`reconcile` with a small pool of its own, closed afterwards (once per engine start)."""
    from memory.db import create_pool

    pool = await create_pool(database_url, min_size=0, max_size=1)
    try:
        return await reconcile(pool, *args, **kwargs)
    finally:
        await pool.close()
