"""Downloading one recording from the shipped Twilio REST fake (actors.twilio_recordings): what
is stored, and which failures are worth another attempt - a 404 is (Twilio's media can lag its
recording callback), a refused credential is not."""

from __future__ import annotations

import io
import stat
import uuid
import wave
from pathlib import Path

import httpx
import pytest

from actors.twilio_recordings import DownloadError, download
from actors.twilio_rest import TwilioAccount
from engine.sim.twilio_rest import TwilioRestFake
from memory.recording_files import RecordingStore

ACCOUNT = "AC" + "1" * 32
TOKEN = "rest-fake-token-0123456789"
TENANT = str(uuid.uuid4())


def _wav() -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\0\0" * 800)
    return out.getvalue()


async def test_download_stores_or_says_whether_to_retry(tmp_path: Path) -> None:
    store = RecordingStore(tmp_path / "recordings")
    async with TwilioRestFake(accounts={ACCOUNT: TOKEN}) as rest, httpx.AsyncClient() as client:
        account = TwilioAccount(ACCOUNT, TOKEN, rest.base_url)
        present, missing = "RE" + uuid.uuid4().hex, "RE" + uuid.uuid4().hex
        audio = _wav()
        rest.add_recording(ACCOUNT, present, audio)

        stored = await download(store, client, account, TENANT, present)
        assert store.path(stored.file_name).read_bytes() == audio
        assert stored.size_bytes == len(audio)
        # call audio is private: files 0600 in 0700 directories, whatever the umask
        assert stat.S_IMODE(store.path(stored.file_name).stat().st_mode) == 0o600
        for directory in (store.root, store.root / TENANT):
            assert stat.S_IMODE(directory.stat().st_mode) == 0o700

        with pytest.raises(DownloadError, match="404") as not_yet:
            await download(store, client, account, TENANT, missing)
        assert not_yet.value.retryable

        wrong = TwilioAccount(ACCOUNT, "not-the-token-at-all", rest.base_url)
        with pytest.raises(DownloadError, match="401") as refused:
            await download(store, client, wrong, TENANT, present)
        assert not refused.value.retryable
    # Failed attempts leave no partial file behind.
    assert sorted(p.name for p in (store.root / TENANT).iterdir()) == [f"{present}.wav"]
