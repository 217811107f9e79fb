"""A tenant's recording downloads, run inside its TenantActor. I/O: HTTPS to the Twilio REST
API (actors.twilio_recordings) into the recordings store (memory.recording_files), and Postgres
for the recording rows (memory.recordings) through a small pool of its own.

The recording webhook registers a finished recording and hands its RecordingSid to the tenant's
actor (TenantActor.fetch_recordings), so the tenant's Twilio credentials are used only where its
config lives; the Serve replica never reads them. Each download is a tracked task named after
its RecordingSid, so a recording downloads once at a time; every attempt, failure and the stored
file end up on its row. A task dies with its actor and leaves its row `pending`, so each
hand-off also restarts the tenant's downloads that have been pending for minutes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

import asyncpg
import httpx
import structlog

from actors.twilio_recordings import DownloadError, download
from actors.twilio_rest import TwilioAccount
from engine.config import EngineConfig
from engine.task_set import TaskSet
from memory import recordings
from memory.db import LazyPool
from memory.recording_files import RECORDING_SID, RecordingStore

log = structlog.get_logger(__name__)

MAX_ATTEMPTS = 4
BACKOFF_S = 2.0
STALE_PENDING_S = 300.0
HTTP_TIMEOUT_S = 30.0

AccountSource = Callable[[], Awaitable[TwilioAccount | None]]
"""The Twilio account to download with, as of now (None: the tenant has none, nor does the
platform)."""


async def fetch_recording(
    pool: asyncpg.Pool,
    store: RecordingStore,
    client: httpx.AsyncClient,
    account: AccountSource,
    tenant_id: str,
    recording_sid: str,
) -> None:
    """Download, verify and link one pending recording, retrying with backoff; every outcome
    ends up on the recording's row."""
    bound = log.bind(tenant_id=tenant_id, recording_sid=recording_sid)
    for attempt in range(1, MAX_ATTEMPTS + 1):
        if await recordings.start_attempt(pool, tenant_id, recording_sid) is None:
            return  # no longer pending: stored by an earlier task, or deleted
        access = await account()
        if access is None:
            await recordings.mark_failed(
                pool, tenant_id, recording_sid, "no Twilio account configured", final=True
            )
            bound.error("recording_download_failed", reason="no Twilio account")
            return
        try:
            stored = await download(store, client, access, tenant_id, recording_sid)
        except DownloadError as exc:
            final = not exc.retryable or attempt == MAX_ATTEMPTS
            await recordings.mark_failed(pool, tenant_id, recording_sid, str(exc), final=final)
            bound.warning("recording_download_failed", attempt=attempt, error=str(exc), final=final)
            if final:
                return
            await asyncio.sleep(BACKOFF_S * 2 ** (attempt - 1))
            continue
        linked = await recordings.mark_stored(
            pool,
            tenant_id,
            recording_sid,
            file_name=stored.file_name,
            size_bytes=stored.size_bytes,
            sha256=stored.sha256,
            content_type=stored.content_type,
        )
        if not linked:  # the caller was forgotten while we downloaded
            await asyncio.to_thread(store.remove, tenant_id, recording_sid)
            bound.info("recording_discarded")
            return
        bound.info("recording_stored", size_bytes=stored.size_bytes, attempt=attempt)
        return


class RecordingDownloads:
    """One tenant's background downloads. Owns the task set, an HTTP client and an app-role
    pool of at most two connections (both made on first use; idle connections close after a
    few minutes), all released by `close`."""

    def __init__(self, config: EngineConfig, tenant_id: str, account: AccountSource) -> None:
        self._tenant_id = tenant_id
        self._account = account
        self._store = RecordingStore(Path(config.recordings_dir))
        self._tasks = TaskSet("recording", log.bind(tenant_id=tenant_id))
        self._pool = LazyPool(config.app_database_url, min_size=0, max_size=2)
        self._client: httpx.AsyncClient | None = None

    @property
    def running(self) -> int:
        return len(self._tasks)

    def request(self, recording_sids: Sequence[str]) -> None:
        """Start downloading these recordings (those not already downloading), then look for
        stale pending ones. Returns at once."""
        for sid in recording_sids:
            if RECORDING_SID.match(sid):
                self._tasks.spawn_once(sid, self._download(sid))
        self._tasks.spawn_once("stale-sweep", self._sweep())

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(follow_redirects=False, timeout=HTTP_TIMEOUT_S)
        return self._client

    async def _download(self, recording_sid: str) -> None:
        await fetch_recording(
            await self._pool.get(),
            self._store,
            self._http(),
            self._account,
            self._tenant_id,
            recording_sid,
        )

    async def _sweep(self) -> None:
        pool = await self._pool.get()
        stale = await recordings.stale_pending(pool, self._tenant_id, older_than_s=STALE_PENDING_S)
        for recording in stale:
            self._tasks.spawn_once(recording.recording_sid, self._download(recording.recording_sid))

    async def close(self) -> None:
        """Cancel the running downloads (their rows stay pending) and release the pool and
        the client."""
        await self._tasks.close(timeout=5)
        if self._client is not None:
            await self._client.aclose()
            self._client = None
        await self._pool.close()
