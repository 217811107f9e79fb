"""Waiting for a call's record to hold the engine's own outcome. Twilio's final status callback
can beat the call actor's report: the row then holds a `twilio_<status>` placeholder until the
report replaces it (memory.calls `_FINISH`), so a test that stops at the first outcome it sees
reads the placeholder when the machine is busy."""

from __future__ import annotations

import asyncio
import time

import asyncpg

from memory import calls
from memory.call_records import CallRecord

PLACEHOLDER = "twilio_"


async def engine_outcome(
    pool: asyncpg.Pool, tenant_id: str, call_sid: str, timeout: float = 10.0
) -> CallRecord:
    """The call's record once the engine has written its outcome (AssertionError, with the
    record as it stands, after `timeout` seconds)."""
    deadline = time.monotonic() + timeout
    record = None
    while time.monotonic() < deadline:
        record = await calls.get_call(pool, tenant_id, call_sid)
        if record is not None and record.outcome and not record.outcome.startswith(PLACEHOLDER):
            return record
        await asyncio.sleep(0.05)
    raise AssertionError(
        f"call {call_sid} has no outcome of the engine's after {timeout} s: {record}"
    )
