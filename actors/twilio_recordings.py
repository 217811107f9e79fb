"""Downloading one finished recording from the Twilio REST API into the recordings store.
I/O: HTTPS to Twilio (`EngineConfig.twilio_api_base_url`, so tests use the shipped fake) and
the store's directory (memory.recording_files).

The URL is built from the configured base, the tenant's account and the RecordingSid (which
must match `RE` + 32 hex digits); the RecordingUrl in the callback is never fetched, so a
callback cannot make us request an arbitrary address. A download is verified before it is
linked: HTTP 200, the byte count equal to Content-Length, within the size limit, and for WAV a
RIFF header whose size field matches the file.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import httpx

from actors.twilio_rest import TwilioAccount
from engine.errors import RetryableError, status_retryable
from memory.recording_files import RecordingStore

MAX_RECORDING_BYTES = 512 * 1024 * 1024  # 4 h of dual-channel 8 kHz 16-bit PCM is ~230 MB
DOWNLOAD_TIMEOUT_S = 60.0
# Twilio sends the recording callback when the recording is complete, but its media can answer
# 404 for a moment afterwards: for this request, and only this one, 404 is worth retrying.
NOT_YET_AVAILABLE = frozenset({404})
_CHUNK = 256 * 1024


class DownloadError(RetryableError):
    """A recording download that failed; `retryable` when trying again may help."""


@dataclass(frozen=True, slots=True)
class StoredFile:
    file_name: str
    size_bytes: int
    sha256: str
    content_type: str


def check_wav(header: bytes, size: int) -> None:
    """Refuse a file that claims to be WAV but whose RIFF size field disagrees with its size."""
    if len(header) < 12 or header[:4] != b"RIFF" or header[8:12] != b"WAVE":
        raise DownloadError("recording is not a RIFF/WAVE file", retryable=True)
    (riff_size,) = struct.unpack("<I", header[4:8])
    if riff_size + 8 != size:
        raise DownloadError(
            f"WAV header says {riff_size + 8} bytes but {size} arrived", retryable=True
        )


async def download(
    store: RecordingStore,
    client: httpx.AsyncClient,
    access: TwilioAccount,
    tenant_id: str,
    recording_sid: str,
) -> StoredFile:
    """Fetch, verify and link one recording; DownloadError when it cannot be stored."""
    name = store.file_name(tenant_id, recording_sid, "wav")
    url = (
        f"{access.api_base_url.rstrip('/')}/2010-04-01/Accounts/{access.account_sid}"
        f"/Recordings/{recording_sid}.wav"
    )
    final = store.path(name)
    partial = store.partial(final)
    await asyncio.to_thread(store.make_dirs, final)
    try:
        stored = await _fetch(client, access, url, partial)
        await asyncio.to_thread(os.replace, partial, final)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()
        raise
    return StoredFile(name, stored[0], stored[1], stored[2])


async def _fetch(
    client: httpx.AsyncClient, access: TwilioAccount, url: str, partial: Path
) -> tuple[int, str, str]:
    auth = httpx.BasicAuth(access.account_sid, access.auth_token)
    try:
        async with client.stream("GET", url, auth=auth, timeout=DOWNLOAD_TIMEOUT_S) as resp:
            if resp.status_code != 200:
                retryable = status_retryable(resp.status_code, also=NOT_YET_AVAILABLE)
                raise DownloadError(f"Twilio answered {resp.status_code}", retryable=retryable)
            declared = resp.headers.get("content-length")
            expected = int(declared) if declared and declared.isdigit() else None
            if expected is not None and expected > MAX_RECORDING_BYTES:
                raise DownloadError("recording is larger than the limit", retryable=False)
            content_type = resp.headers.get("content-type", "audio/wav").split(";")[0]
            digest = hashlib.sha256()
            size = 0
            header = b""
            handle: BinaryIO = await asyncio.to_thread(RecordingStore.open_partial, partial)
            try:
                async for chunk in resp.aiter_bytes(_CHUNK):
                    size += len(chunk)
                    if size > MAX_RECORDING_BYTES:
                        raise DownloadError("recording is larger than the limit", retryable=False)
                    if len(header) < 12:
                        header += chunk[: 12 - len(header)]
                    digest.update(chunk)
                    await asyncio.to_thread(handle.write, chunk)
                await asyncio.to_thread(handle.flush)
                await asyncio.to_thread(os.fsync, handle.fileno())
            finally:
                await asyncio.to_thread(handle.close)
    except httpx.HTTPError as exc:
        raise DownloadError(f"download failed: {type(exc).__name__}", retryable=True) from exc
    if expected is not None and size != expected:
        raise DownloadError(f"got {size} of {expected} bytes", retryable=True)
    if size == 0:
        raise DownloadError("recording is empty", retryable=True)
    if content_type in ("audio/wav", "audio/x-wav", "audio/wave"):
        check_wav(header, size)
    return size, digest.hexdigest(), content_type
