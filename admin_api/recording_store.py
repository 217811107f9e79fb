"""The recordings store and the download of a finished recording from Twilio.
I/O: the local filesystem (a directory under the data dir by default) and HTTPS to the Twilio
REST API (`EngineConfig.twilio_api_base_url`, so tests use the shipped fake).

Two processes use it: the tenant's actor downloads into it (actors.recording_downloads; it holds
the Twilio credentials), and the admin API serves and deletes files from it. Both must see the
same directory (one node, or a shared volume on a cluster).

Files are `<root>/<tenant id>/<RecordingSid>.wav`, written to a temporary name, fsynced and
renamed, so a reader never sees half a file. The store is private: it is served only through
the admin API's authorised, tenant-checked route, never as a directory.

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
import re
import secrets
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import httpx

from actors.twilio_rest import TwilioAccount

RECORDING_SID = re.compile(r"^RE[0-9a-f]{32}$")
FILE_NAME = re.compile(r"^([0-9a-f-]{36})/(RE[0-9a-f]{32})\.(wav|mp3)$")
MAX_RECORDING_BYTES = 512 * 1024 * 1024  # 4 h of dual-channel 8 kHz 16-bit PCM is ~230 MB
DOWNLOAD_TIMEOUT_S = 60.0
_CHUNK = 256 * 1024


class DownloadError(Exception):
    """A recording download that failed; `retryable` when trying again may help."""

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


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


class RecordingStore:
    """Recording files of every tenant under one private root directory."""

    def __init__(self, root: Path) -> None:
        self.root = root

    @staticmethod
    def file_name(tenant_id: str, recording_sid: str, ext: str = "wav") -> str:
        if not RECORDING_SID.match(recording_sid) or ext not in ("wav", "mp3"):
            raise ValueError("bad recording sid or extension")
        name = f"{tenant_id}/{recording_sid}.{ext}"
        if not FILE_NAME.match(name):
            raise ValueError("bad tenant id")
        return name

    def path(self, file_name: str) -> Path:
        """The file's path; ValueError for any name this store would not have made."""
        if not FILE_NAME.match(file_name):
            raise ValueError("not a recording file name")
        return self.root / file_name

    def remove(self, tenant_id: str, recording_sid: str) -> int:
        """Delete a recording's files (and any partial download); how many were removed."""
        removed = 0
        directory = self.root / tenant_id
        for ext in ("wav", "mp3"):
            with contextlib.suppress(FileNotFoundError):
                (directory / f"{recording_sid}.{ext}").unlink()
                removed += 1
        if directory.is_dir():
            for partial in directory.glob(f"{recording_sid}.*.part"):
                with contextlib.suppress(FileNotFoundError):
                    partial.unlink()
        return removed

    async def download(
        self, client: httpx.AsyncClient, access: TwilioAccount, tenant_id: str, recording_sid: str
    ) -> StoredFile:
        """Fetch, verify and link one recording; DownloadError when it cannot be stored."""
        name = self.file_name(tenant_id, recording_sid, "wav")
        url = (
            f"{access.api_base_url.rstrip('/')}/2010-04-01/Accounts/{access.account_sid}"
            f"/Recordings/{recording_sid}.wav"
        )
        final = self.path(name)
        partial = final.with_name(f"{recording_sid}.{secrets.token_hex(4)}.part")
        await asyncio.to_thread(final.parent.mkdir, parents=True, exist_ok=True)
        try:
            stored = await self._fetch(client, access, url, partial)
            await asyncio.to_thread(os.replace, partial, final)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                partial.unlink()
            raise
        return StoredFile(name, stored[0], stored[1], stored[2])

    async def _fetch(
        self, client: httpx.AsyncClient, access: TwilioAccount, url: str, partial: Path
    ) -> tuple[int, str, str]:
        auth = httpx.BasicAuth(access.account_sid, access.auth_token)
        try:
            async with client.stream("GET", url, auth=auth, timeout=DOWNLOAD_TIMEOUT_S) as resp:
                if resp.status_code != 200:
                    retryable = resp.status_code in (404, 408, 429) or resp.status_code >= 500
                    raise DownloadError(f"Twilio answered {resp.status_code}", retryable=retryable)
                declared = resp.headers.get("content-length")
                expected = int(declared) if declared and declared.isdigit() else None
                if expected is not None and expected > MAX_RECORDING_BYTES:
                    raise DownloadError("recording is larger than the limit", retryable=False)
                content_type = resp.headers.get("content-type", "audio/wav").split(";")[0]
                digest = hashlib.sha256()
                size = 0
                header = b""
                handle: BinaryIO = await asyncio.to_thread(partial.open, "wb")
                try:
                    async for chunk in resp.aiter_bytes(_CHUNK):
                        size += len(chunk)
                        if size > MAX_RECORDING_BYTES:
                            raise DownloadError(
                                "recording is larger than the limit", retryable=False
                            )
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
