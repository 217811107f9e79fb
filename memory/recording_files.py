"""The recordings store: recording files of every tenant under one private root directory.
I/O: the local filesystem (a directory under the data dir by default).

Files are `<root>/<tenant id>/<RecordingSid>.wav` (or `.mp3`), written first to a partial name
`<RecordingSid>.<random hex>.part`, fsynced and renamed, so a reader never sees half a file. A
recording's row (memory.recordings) holds `file_name`, relative to the root. The store is
private: it is served only through the admin API's authorised, tenant-checked route.

Three kinds of process use it and must see the same directory (one node, or a shared volume on
a cluster): the tenant's actor downloads into it (actors.recording_downloads), the admin API
serves and deletes files from it, and the retention purge (memory actor 0, `neurosphere db
purge`) removes files in batches. `remove_many` scans a tenant's directory once per batch
(removing 20,000 recordings one by one spent its time globbing); which names belong to which
recording is the pure `files_of`.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import uuid
from collections.abc import Collection, Iterable
from pathlib import Path
from typing import BinaryIO

RECORDING_SID = re.compile(r"^RE[0-9a-f]{32}$")
FILE_NAME = re.compile(r"^([0-9a-f-]{36})/(RE[0-9a-f]{32})\.(wav|mp3)$")
# <sid>.wav, <sid>.mp3, and the partial downloads <sid>.<random>.part written first.
_RECORDING_FILE = re.compile(r"^(RE[0-9a-f]{32})\.(?:wav|mp3|[0-9a-f]+\.part)$")


def files_of(recording_sids: Collection[str], names: Iterable[str]) -> list[str]:
    """The names (entries of one tenant's directory) that belong to these recordings."""
    found = []
    for name in names:
        match = _RECORDING_FILE.match(name)
        if match and match[1] in recording_sids:
            found.append(name)
    return found


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

    def make_dirs(self, final: Path) -> None:
        """The root and the file's tenant directory, 0700 whatever the umask (call audio is
        private to the engine's account). Blocking: run it in a thread."""
        for directory in (self.root, final.parent):
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            os.chmod(directory, 0o700)

    @staticmethod
    def open_partial(partial: Path) -> BinaryIO:
        """A new partial file, 0600, open for writing. Blocking: run it in a thread."""
        return os.fdopen(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb")

    @staticmethod
    def partial(final: Path) -> Path:
        """A fresh partial name next to `final`, to write to before renaming onto it."""
        return final.with_name(f"{final.name.split('.')[0]}.{secrets.token_hex(4)}.part")

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

    def remove_many(self, tenant_id: str, recording_sids: Collection[str]) -> tuple[int, list[str]]:
        """Delete every file of these recordings: (files removed, names that could not be)."""
        if str(uuid.UUID(tenant_id)) != tenant_id:
            raise ValueError("not a canonical tenant id")
        sids = {s for s in recording_sids if RECORDING_SID.match(s)}
        directory = self.root / tenant_id
        if not sids:
            return 0, []
        try:
            with os.scandir(directory) as entries:
                names = files_of(sids, (e.name for e in entries))
        except FileNotFoundError:
            return 0, []
        removed, failed = 0, []
        for name in names:
            try:
                (directory / name).unlink()
                removed += 1
            except FileNotFoundError:
                continue  # gone meanwhile (a download discarding its own file)
            except OSError:
                failed.append(name)
        return removed, failed
