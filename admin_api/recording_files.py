"""Removing many recordings' files at once, for the retention purge. I/O: the local filesystem
(the recordings store's root, laid out as admin_api.recording_store describes).

`RecordingStore.remove` finds one recording's partial downloads with a glob over its tenant's
directory, so removing N recordings one by one scans that directory N times (a purge of 20,000
recordings spent its time there, not in Postgres). Here one scan of the directory serves a
whole batch; which names belong to which recording is the pure `files_of`.

Its callers are memory actor 0 (the periodic purge) and `neurosphere db purge`, so they must see
the same recordings directory as the admin API (one node, or a shared volume on a cluster).
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Collection, Iterable
from pathlib import Path

from admin_api.recording_store import RECORDING_SID

# <sid>.wav, <sid>.mp3, and the partial downloads <sid>.<random>.part the store writes first.
_RECORDING_FILE = re.compile(r"^(RE[0-9a-f]{32})\.(?:wav|mp3|[0-9a-f]+\.part)$")


def files_of(recording_sids: Collection[str], names: Iterable[str]) -> list[str]:
    """The names (entries of one tenant's directory) that belong to these recordings."""
    found = []
    for name in names:
        match = _RECORDING_FILE.match(name)
        if match and match[1] in recording_sids:
            found.append(name)
    return found


class RecordingFiles:
    """Batch removal of recording files under one store root."""

    def __init__(self, root: Path) -> None:
        self.root = root

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
