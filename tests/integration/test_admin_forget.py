"""Forgetting a caller is one transaction: when it dies half-way (its database connection is
killed while it waits on a row lock, after most of its deletes ran), every row of the caller -
recordings included - and every recording file is still there, and no audit entry claims it
happened; running it again then forgets everything."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg

from tests.conftest import PgUrls
from tests.integration.admin_harness import ACCOUNT_SID, AdminHarness
from tests.integration.test_admin_api import seed_call
from tests.integration.test_admin_recordings import _mentions, callback, stored, wav_bytes

# The forget transaction, blocked on the caller's profile row: by then it has deleted the
# recordings, turns, events, memories, summaries, personality, jobs and messages.
_BLOCKED_FORGET = """
SELECT pid FROM pg_stat_activity
WHERE datname = 'neurosphere' AND wait_event_type = 'Lock'
  AND query LIKE 'DELETE FROM caller_profiles%'
"""


async def test_a_forget_that_dies_half_way_leaves_every_row_and_file(
    h: AdminHarness, pg_urls: PgUrls
) -> None:
    tenant = await h.tenant()
    caller = "+1555" + str(uuid.uuid4().int)[:7]
    seeded = [await seed_call(h.pool, tenant, caller) for _ in range(2)]
    recording_sids = []
    for call in seeded:
        recording_sid = "RE" + uuid.uuid4().hex
        h.rest.add_recording(ACCOUNT_SID, recording_sid, wav_bytes(0.2))
        assert (await callback(h, tenant, call.call_sid, recording_sid)).status_code == 204
        assert (await stored(h, tenant, recording_sid)).status == "stored"
        recording_sids.append(recording_sid)
    files = [h.recordings_dir / tenant.tenant_id / f"{sid}.wav" for sid in recording_sids]
    before = await _mentions(pg_urls.superuser, caller)
    assert {"calls", "call_summaries", "memories", "messages", "caller_profiles"} <= set(before)

    db_url = pg_urls.superuser.replace("/postgres?", "/neurosphere?", 1)
    holder, killer = await asyncpg.connect(db_url), await asyncpg.connect(db_url)
    try:
        holder_tx = holder.transaction()
        await holder_tx.start()
        await holder.execute(
            "SELECT 1 FROM caller_profiles WHERE caller_number = $1 FOR UPDATE", caller
        )
        forgetting = asyncio.create_task(h.delete(f"/callers/{caller}", tenant.owner_token))
        pid = None
        for _ in range(200):
            pid = await killer.fetchval(_BLOCKED_FORGET)
            if pid is not None:
                break
            await asyncio.sleep(0.05)
        assert pid is not None, "the forget never reached the locked profile row"
        assert await killer.fetchval("SELECT pg_terminate_backend($1)", pid)
        response = await asyncio.wait_for(forgetting, 10)
        assert response.status_code == 503
        await holder_tx.rollback()

        assert await _mentions(pg_urls.superuser, caller) == before
        recordings = await killer.fetchval(
            "SELECT count(*) FROM recordings WHERE recording_sid = ANY($1::text[])",
            recording_sids,
        )
        assert recordings == 2
        assert all(f.exists() for f in files)
        audit = (await h.get("/audit?action=caller.forgotten", tenant.owner_token)).json()
        assert audit["items"] == []
    finally:
        await holder.close()
        await killer.close()

    again = await h.delete(f"/callers/{caller}", tenant.owner_token)
    assert again.status_code == 200, again.text
    assert again.json() == {"recordings_deleted": 2}
    assert await _mentions(pg_urls.superuser, caller) == {}
    assert not any(f.exists() for f in files)
    entries = (await h.get("/audit?action=caller.forgotten", tenant.owner_token)).json()["items"]
    assert [e["changes"] for e in entries] == [{"recordings": 2}]
