"""How the parts of one simulated Realtime session emit server events, and name things.

No I/O here: `SimSession` (`engine.sim.realtime_session`) owns the socket and hands its parts a
`Send` (stamp an event id, serialise, write with a timeout) and an `IdSource`. A send that times
out aborts the socket and raises `Gone`, which every part lets through to the session loop.
"""

from __future__ import annotations

import asyncio
import secrets
from itertools import count
from typing import Any, Protocol

SEND_TIMEOUT_S = 10.0


class Gone(Exception):
    """The client stopped reading (send timed out); the socket has been aborted."""


class Send(Protocol):
    """Send one server event (`record=False` keeps it out of `SimSession.sent`)."""

    async def __call__(self, event: dict[str, Any], *, record: bool = True) -> None: ...


class IdSource:
    """Server ids (`event_…`, `item_…`, `resp_…`, `call_…`) unique to one session."""

    __slots__ = ("_ids", "_tag")

    def __init__(self) -> None:
        self._tag = secrets.token_hex(5)
        self._ids = count(1)

    def __call__(self, prefix: str) -> str:
        return f"{prefix}_{self._tag}{next(self._ids):06d}"


def resolve(future: asyncio.Future[None]) -> None:
    """Wake whoever awaits `future` (once; later calls do nothing)."""
    if not future.done():
        future.set_result(None)
