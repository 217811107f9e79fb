"""A call's writes that Postgres could not take, kept on local disk until it can. I/O: files.

While the database is down (a failover takes tens of seconds), a memory actor appends each call
write it could not make - the call row, turn batches, the end-of-call report, the post-call job
- to its spool file, one JSON line each, flushed and fsynced before the call actor is answered.
While anything is spooled, later writes join the queue behind it, so they reach Postgres in the
order they were made (turns before the report, the report before the post-call job). `drain`
replays the lines in order once the database answers, removing each prefix that went in; every
write is idempotent (turns keyed by seq, the report fills only empty columns, one job per call),
so a line replayed twice after a crash changes nothing.

The file sits in a 0700 directory and is 0600: it holds callers' numbers and words. A spool is
per memory actor and per node: an actor restarted on the same node drains what its predecessor
left.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from memory.call_records import CallEnd, CallStart, Turn
from memory.errors import DATABASE_DOWN

Op = Literal["start", "turns", "finish", "post_call"]


def encode_turn(turn: Turn) -> dict[str, Any]:
    return {**asdict(turn), "at": turn.at.isoformat()}


def decode_turn(data: dict[str, Any]) -> Turn:
    return Turn(
        seq=data["seq"],
        role=data["role"],
        text=data["text"],
        at=datetime.fromisoformat(data["at"]),
        meta=data["meta"],
    )


def decode_start(data: dict[str, Any]) -> CallStart:
    return CallStart(**data)


def decode_end(data: dict[str, Any]) -> CallEnd:
    return CallEnd(**data)


class WriteSpool:
    def __init__(self, path: Path) -> None:
        self._path = path
        self._lines: list[dict[str, Any]] = []
        self._lock = asyncio.Lock()
        self._loaded = False

    @property
    def pending(self) -> int:
        return len(self._lines)

    async def load(self) -> int:
        """Read what an earlier actor left (once); how many writes wait."""
        async with self._lock:
            if not self._loaded:
                self._lines = await asyncio.to_thread(self._read)
                self._loaded = True
            return len(self._lines)

    async def add(self, op: Op, tenant_id: str, call_sid: str, data: Any) -> None:
        """Queue one write durably (on disk before this returns)."""
        await self.load()
        line = {"op": op, "tenant_id": tenant_id, "call_sid": call_sid, "data": data}
        async with self._lock:
            self._lines.append(line)
            await asyncio.to_thread(self._append, line)

    async def drain(self, apply: Callable[[dict[str, Any]], Awaitable[None]]) -> int:
        """Apply queued writes in order until one fails (its error is raised) or none is left;
        what went in is removed from the file. How many went in."""
        await self.load()
        done = 0
        try:
            while done < len(self._lines):
                await apply(self._lines[done])
                done += 1
        finally:
            if done:
                async with self._lock:
                    del self._lines[:done]
                    await asyncio.to_thread(self._rewrite, list(self._lines))
        return done

    # --- files (run in a thread) -------------------------------------------------------------

    def _open(self, mode: str) -> Any:
        self._path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(self._path.parent, 0o700)
        fd = os.open(self._path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        os.close(fd)
        return self._path.open(mode, encoding="utf-8")

    def _read(self) -> list[dict[str, Any]]:
        if not self._path.exists():
            return []
        raw = self._path.read_text(encoding="utf-8")
        lines = []
        for text in raw.splitlines():
            try:
                lines.append(json.loads(text))
            except json.JSONDecodeError:  # a line cut short by a crash mid-write
                continue
        if raw and (len(lines) != len(raw.splitlines()) or not raw.endswith("\n")):
            self._rewrite(lines)  # later lines must not be appended to the broken one
        return lines

    def _append(self, line: dict[str, Any]) -> None:
        with self._open("a") as file:
            file.write(json.dumps(line) + "\n")
            file.flush()
            os.fsync(file.fileno())

    def _rewrite(self, lines: list[dict[str, Any]]) -> None:
        fresh = self._path.with_suffix(".tmp")
        fd = os.open(fresh, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            file.writelines(json.dumps(line) + "\n" for line in lines)
            file.flush()
            os.fsync(file.fileno())
        os.replace(fresh, self._path)


def database_down(exc: BaseException) -> bool:
    return isinstance(exc, DATABASE_DOWN)
