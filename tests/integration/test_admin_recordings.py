"""Recordings end to end in-process: the signed Twilio callback, the download by the tenant's
actor from the Twilio REST fake with Basic auth (credentials the replica never holds),
verification, the private store, streaming with range requests to the tenant's users only; and
forgetting a caller, which leaves no row or file of theirs."""

from __future__ import annotations

import io
import uuid
import wave
from pathlib import Path

import asyncpg
import httpx
import pytest
from twilio.request_validator import RequestValidator

from actors import recording_downloads
from memory import recordings
from memory.db import tenant_tx
from tests.conftest import PgUrls
from tests.integration.admin_harness import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    PUBLIC_BASE,
    AdminHarness,
    Tenant,
    admin_harness,
    wait_for,
)
from tests.integration.test_admin_api import seed_call


def wav_bytes(seconds: float = 1.0) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as out:
        out.setnchannels(2)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(bytes(range(256)) * int(8000 * 4 * seconds / 256))
    return buf.getvalue()


async def callback(
    h: AdminHarness,
    tenant: Tenant,
    call_sid: str,
    recording_sid: str,
    *,
    status: str = "completed",
    token: str = AUTH_TOKEN,
) -> httpx.Response:
    path = f"/twilio/recording?tenant={tenant.tenant_id}"
    params = {
        "AccountSid": ACCOUNT_SID,
        "CallSid": call_sid,
        "RecordingSid": recording_sid,
        "RecordingUrl": f"https://evil.example/steal/{recording_sid}",
        "RecordingStatus": status,
        "RecordingDuration": "1",
        "RecordingChannels": "2",
        "RecordingSource": "StartCallRecording",
    }
    signature = RequestValidator(token).compute_signature(PUBLIC_BASE + path, params)
    return await h.client.post(path, data=params, headers={"X-Twilio-Signature": signature})


async def stored(h: AdminHarness, tenant: Tenant, recording_sid: str) -> recordings.Recording:
    async def done() -> bool:
        found = await recordings.get_recording(h.pool, tenant.tenant_id, recording_sid)
        return found is not None and found.status != "pending"

    await wait_for(done)
    found = await recordings.get_recording(h.pool, tenant.tenant_id, recording_sid)
    assert found is not None
    return found


async def test_recording_is_downloaded_stored_and_streamed_to_its_tenant_only(
    h: AdminHarness,
) -> None:
    tenant = await h.tenant()
    other = await h.tenant()
    seeded = await seed_call(h.pool, tenant, "+15550800001", memories=False)
    recording_sid = "RE" + uuid.uuid4().hex
    audio = wav_bytes()
    h.rest.add_recording(ACCOUNT_SID, recording_sid, audio)

    response = await callback(h, tenant, seeded.call_sid, recording_sid)
    assert response.status_code == 204
    row = await stored(h, tenant, recording_sid)
    assert row.status == "stored", row.error
    assert row.size_bytes == len(audio)
    path = h.recordings_dir / tenant.tenant_id / f"{recording_sid}.wav"
    assert path.read_bytes() == audio
    fetches = [r for r in h.rest.requests if recording_sid in r.path]
    assert len(fetches) == 1
    assert fetches[0].account_sid == ACCOUNT_SID  # Basic auth with the tenant's account
    assert fetches[0].path.endswith(f"/Accounts/{ACCOUNT_SID}/Recordings/{recording_sid}.wav")

    # A replayed callback does not download again.
    assert (await callback(h, tenant, seeded.call_sid, recording_sid)).status_code == 204
    await h.gateway.drain()
    assert len([r for r in h.rest.requests if recording_sid in r.path]) == 1

    detail = (await h.get(f"/calls/{seeded.call_sid}", tenant.owner_token)).json()
    assert detail["recordings"][0]["recording_sid"] == recording_sid
    audio_url = detail["recordings"][0]["audio_url"]
    assert audio_url == f"/api/v1/recordings/{recording_sid}/audio"

    viewer = await h.user(tenant.tenant_id, "viewer")
    viewer_token = await h.token_for(viewer)
    full = await h.client.get(audio_url, headers=h.auth(viewer_token))
    assert full.status_code == 200
    assert full.content == audio
    assert full.headers["content-type"] == "audio/wav"
    assert full.headers["accept-ranges"] == "bytes"
    assert "no-store" in full.headers["cache-control"]
    part = await h.client.get(
        audio_url, headers={**h.auth(viewer_token), "Range": "bytes=100-1099"}
    )
    assert part.status_code == 206
    assert part.content == audio[100:1100]
    assert part.headers["content-range"] == f"bytes 100-1099/{len(audio)}"
    tail = await h.client.get(audio_url, headers={**h.auth(viewer_token), "Range": "bytes=-10"})
    assert tail.status_code == 206
    assert tail.content == audio[-10:]
    beyond = await h.client.get(
        audio_url, headers={**h.auth(viewer_token), "Range": f"bytes={len(audio) + 10}-"}
    )
    assert beyond.status_code == 416

    # Another tenant's user, or nobody, gets nothing.
    assert (await h.client.get(audio_url, headers=h.auth(other.owner_token))).status_code == 404
    meta = await h.get(f"/recordings/{recording_sid}", other.owner_token)
    assert meta.status_code == 404
    assert (await h.client.get(audio_url)).status_code == 401
    assert (await h.client.get(audio_url, headers=h.auth(h.platform_token))).status_code == 403
    # No listing of the store, anywhere.
    for probe in (
        "/api/v1/recordings",
        "/api/v1/recordings/",
        "/recordings",
        f"/{tenant.tenant_id}",
    ):
        assert (await h.client.get(probe, headers=h.auth(tenant.owner_token))).status_code in (
            404,
            405,
        )


PLATFORM_SID = "AC" + "9" * 32
PLATFORM_TOKEN = "platform-auth-token-9876543210"


async def test_downloads_use_credentials_only_the_tenant_actor_holds(
    pg_urls: PgUrls, app_pool: asyncpg.Pool, jwt_secret: str, tmp_path: Path
) -> None:
    # The tenant has no Twilio account of its own, so the platform's applies; only the tenant
    # actors are configured with it. A replica that downloaded (or read credentials) itself
    # would have none to use.
    async with admin_harness(
        pg_urls.app,
        jwt_secret,
        app_pool,
        tmp_path,
        actor_twilio=(PLATFORM_SID, PLATFORM_TOKEN),
    ) as h:
        assert h.config.twilio_account_sid is None
        assert h.config.twilio_auth_token is None
        tenant = await h.tenant(twilio_account_sid=None, twilio_auth_token=None)
        seeded = await seed_call(h.pool, tenant, "+15550800005", memories=False)
        recording_sid = "RE" + uuid.uuid4().hex
        audio = wav_bytes(0.2)
        h.rest.add_recording(PLATFORM_SID, recording_sid, audio)
        response = await callback(h, tenant, seeded.call_sid, recording_sid, token=PLATFORM_TOKEN)
        assert response.status_code == 204
        row = await stored(h, tenant, recording_sid)
        assert row.status == "stored", row.error
        fetches = [r for r in h.rest.requests if recording_sid in r.path]
        assert [f.account_sid for f in fetches] == [PLATFORM_SID]
        path = h.recordings_dir / tenant.tenant_id / f"{recording_sid}.wav"
        assert path.read_bytes() == audio


async def test_callback_refusals(h: AdminHarness) -> None:
    tenant = await h.tenant()
    seeded = await seed_call(h.pool, tenant, "+15550800002", memories=False)
    recording_sid = "RE" + uuid.uuid4().hex
    h.rest.add_recording(ACCOUNT_SID, recording_sid, wav_bytes())
    forged = await callback(h, tenant, seeded.call_sid, recording_sid, token="not-the-token-at-all")
    assert forged.status_code == 403
    unknown_call = await callback(h, tenant, "CA" + uuid.uuid4().hex, recording_sid)
    assert unknown_call.status_code == 404
    in_progress = await callback(h, tenant, seeded.call_sid, recording_sid, status="in-progress")
    assert in_progress.status_code == 204
    await h.gateway.drain()
    assert await recordings.get_recording(h.pool, tenant.tenant_id, recording_sid) is None
    assert not any(recording_sid in r.path for r in h.rest.requests)


async def test_a_bad_download_is_never_linked(
    h: AdminHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(recording_downloads, "BACKOFF_S", 0.01)
    tenant = await h.tenant()
    seeded = await seed_call(h.pool, tenant, "+15550800003", memories=False)
    truncated_sid = "RE" + uuid.uuid4().hex
    h.rest.add_recording(ACCOUNT_SID, truncated_sid, wav_bytes()[:-100])  # header says more
    assert (await callback(h, tenant, seeded.call_sid, truncated_sid)).status_code == 204
    row = await stored(h, tenant, truncated_sid)
    assert row.status == "failed"
    assert row.attempts == recording_downloads.MAX_ATTEMPTS
    assert "WAV header" in (row.error or "")
    assert not (h.recordings_dir / tenant.tenant_id / f"{truncated_sid}.wav").exists()
    assert list((h.recordings_dir / tenant.tenant_id).glob("*.part")) == []
    missing_sid = "RE" + uuid.uuid4().hex  # Twilio never has it
    assert (await callback(h, tenant, seeded.call_sid, missing_sid)).status_code == 204
    assert (await stored(h, tenant, missing_sid)).status == "failed"
    streamed = await h.get(f"/recordings/{truncated_sid}/audio", tenant.owner_token)
    assert streamed.status_code == 404
    # Twilio retries a callback; a failed recording is then tried again, and now it works.
    h.rest.add_recording(ACCOUNT_SID, truncated_sid, wav_bytes())
    assert (await callback(h, tenant, seeded.call_sid, truncated_sid)).status_code == 204
    assert (await stored(h, tenant, truncated_sid)).status == "stored"


async def _mentions(superuser_url: str, needle: str) -> dict[str, int]:
    """Rows of every table in the app's database whose text mentions `needle` (superuser,
    so row-level security hides nothing)."""
    url = superuser_url.replace("/postgres?", "/neurosphere?", 1)
    conn = await asyncpg.connect(url)
    try:
        tables = [
            r["relname"]
            for r in await conn.fetch(
                "SELECT relname FROM pg_class WHERE relkind = 'r' "
                "AND relnamespace = 'public'::regnamespace"
            )
        ]
        found: dict[str, int] = {}
        for table in tables:
            count = await conn.fetchval(
                f'SELECT count(*) FROM "{table}" t WHERE t::text LIKE $1',  # noqa: S608
                f"%{needle}%",
            )
            if count:
                found[table] = count
        return found
    finally:
        await conn.close()


async def test_forgetting_a_caller_removes_every_row_and_file(
    h: AdminHarness, pg_urls: PgUrls
) -> None:
    tenant = await h.tenant()
    caller = "+1555" + str(uuid.uuid4().int)[:7]
    bystander = "+1555" + str(uuid.uuid4().int)[:7]
    mine = [await seed_call(h.pool, tenant, caller) for _ in range(2)]
    theirs = await seed_call(h.pool, tenant, bystander)
    recording_sids = []
    for seeded in [*mine, theirs]:
        recording_sid = "RE" + uuid.uuid4().hex
        h.rest.add_recording(ACCOUNT_SID, recording_sid, wav_bytes(0.2))
        assert (await callback(h, tenant, seeded.call_sid, recording_sid)).status_code == 204
        assert (await stored(h, tenant, recording_sid)).status == "stored"
        recording_sids.append(recording_sid)
    # A memory correction leaves history behind; forgetting must take it too.
    memory = (await h.get(f"/callers/{caller}/memories", tenant.owner_token)).json()["items"][0]
    await h.patch(
        f"/callers/{caller}/memories/{memory['memory_id']}",
        tenant.owner_token,
        {"value": {"note": "changed"}, "content": "Changed"},
    )
    before = await _mentions(pg_urls.superuser, caller)
    assert {"calls", "caller_profiles", "memories", "call_summaries", "messages"} <= set(before)

    forgotten = await h.delete(f"/callers/{caller}", tenant.owner_token)
    assert forgotten.status_code == 200, forgotten.text
    assert forgotten.json() == {"recordings_deleted": 2}

    assert await _mentions(pg_urls.superuser, caller) == {}
    directory = h.recordings_dir / tenant.tenant_id
    assert sorted(p.name for p in directory.iterdir()) == [f"{recording_sids[2]}.wav"]
    for seeded in mine:
        call = (await h.get(f"/calls/{seeded.call_sid}", tenant.owner_token)).json()
        assert call["transcript"] == []
        assert call["recordings"] == []
        assert call["summary"] is None
    assert (await h.get(f"/callers/{caller}", tenant.owner_token)).status_code == 404
    assert (await h.delete(f"/callers/{caller}", tenant.owner_token)).status_code == 404
    # The bystander keeps everything.
    kept = (await h.get(f"/callers/{bystander}", tenant.owner_token)).json()
    assert kept["memories"] == 2
    assert (await h.get(f"/calls/{theirs.call_sid}", tenant.owner_token)).json()["transcript"]
    audio = await h.get(f"/recordings/{recording_sids[2]}/audio", tenant.owner_token)
    assert audio.status_code == 200
    entry = (await h.get("/audit?action=caller.forgotten", tenant.owner_token)).json()["items"][0]
    assert caller not in str(entry)
    assert entry["changes"] == {"recordings": 2}


async def test_downloads_lost_with_an_actor_resume_on_the_next_callback(h: AdminHarness) -> None:
    tenant = await h.tenant()
    seeded = await seed_call(h.pool, tenant, "+15550800004", memories=False)
    lost_sid, next_sid = "RE" + uuid.uuid4().hex, "RE" + uuid.uuid4().hex
    for sid in (lost_sid, next_sid):
        h.rest.add_recording(ACCOUNT_SID, sid, wav_bytes(0.2))
    # A callback was answered, then the tenant actor died before its download ran.
    async with tenant_tx(h.pool, tenant.tenant_id) as conn:
        await conn.execute(
            "INSERT INTO recordings (tenant_id, recording_sid, call_sid, created_at) "
            "VALUES ($1, $2, $3, now() - interval '10 minutes')",
            uuid.UUID(tenant.tenant_id),
            lost_sid,
            seeded.call_sid,
        )
    assert (await callback(h, tenant, seeded.call_sid, next_sid)).status_code == 204
    assert (await stored(h, tenant, next_sid)).status == "stored"
    assert (await stored(h, tenant, lost_sid)).status == "stored"


async def test_a_playback_link_streams_ranges_of_one_recording_for_one_session(
    h: AdminHarness,
) -> None:
    tenant = await h.tenant()
    other = await h.tenant()
    seeded = await seed_call(h.pool, tenant, "+15550800005", memories=False)
    recording_sid, second_sid = "RE" + uuid.uuid4().hex, "RE" + uuid.uuid4().hex
    audio = wav_bytes(2.0)
    for sid in (recording_sid, second_sid):
        h.rest.add_recording(ACCOUNT_SID, sid, audio)
        assert (await callback(h, tenant, seeded.call_sid, sid)).status_code == 204
        assert (await stored(h, tenant, sid)).status == "stored"
    viewer = await h.user(tenant.tenant_id, "viewer")
    viewer_token = await h.token_for(viewer)

    made = await h.post(f"/recordings/{recording_sid}/link", viewer_token)
    assert made.status_code == 200
    url = made.json()["url"]
    assert url.startswith(f"/api/v1/recordings/{recording_sid}/audio?access=")
    # No Authorization header: the link alone, as an <audio> element fetches it.
    full = await h.client.get(url)
    assert full.status_code == 200
    assert full.content == audio
    assert full.headers["accept-ranges"] == "bytes"
    part = await h.client.get(url, headers={"Range": "bytes=1000-1999"})
    assert part.status_code == 206
    assert part.content == audio[1000:2000]
    assert part.headers["content-range"] == f"bytes 1000-1999/{len(audio)}"
    opened = await h.client.get(url, headers={"Range": "bytes=30000-"})
    assert opened.status_code == 206
    assert opened.content == audio[30000:]
    assert opened.headers["content-range"] == f"bytes 30000-{len(audio) - 1}/{len(audio)}"
    # Bad ranges: past the end is 416 naming the size; malformed is 400; nothing else changes.
    past = await h.client.get(url, headers={"Range": f"bytes={len(audio)}-"})
    assert past.status_code == 416
    assert past.headers["content-range"] == f"bytes */{len(audio)}"
    for malformed in ("bytes=abc-def", "pages=0-10", "bytes=500-100"):
        bad = await h.client.get(url, headers={"Range": malformed})
        assert bad.status_code in (400, 416), malformed
        assert bad.content != audio
    assert (await h.client.get(url, headers={"Range": "bytes=0-9"})).content == audio[:10]

    # The link is for this recording only, this tenant only, and only as long as the session.
    access = url.split("access=", 1)[1]
    second = await h.client.get(f"/api/v1/recordings/{second_sid}/audio?access={access}")
    assert second.status_code == 401
    tampered = await h.client.get(url[:-4] + ("aaaa" if not url.endswith("aaaa") else "bbbb"))
    assert tampered.status_code == 401
    assert (await h.client.get(url.split("?")[0] + "?access=")).status_code == 401
    refused = await h.post(f"/recordings/{recording_sid}/link", other.owner_token)
    assert refused.status_code == 404
    assert (await h.client.post(f"/api/v1/recordings/{recording_sid}/link")).status_code == 401
    assert (await h.post(f"/recordings/{recording_sid}/link", h.platform_token)).status_code == 403
    assert (await h.post("/recordings/REnot/link", viewer_token)).status_code == 422
    assert (await h.post("/auth/logout", viewer_token)).status_code == 204
    ended = await h.client.get(url)
    assert ended.status_code == 401
    assert "session" in ended.json()["detail"]
