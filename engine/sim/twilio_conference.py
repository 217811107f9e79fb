"""Conferences of the Twilio fake (engine.sim.twilio_rest), as `<Dial><Conference>` makes
them: the first participant creates the room; it stays `init` (those inside hear the wait URL)
until a participant with `startConferenceOnEnter` joins, then `in-progress`; it is `completed`
when a participant with `endConferenceOnExit` leaves or the last one does. Pure state plus
asyncio events the simulated calls wait on.
"""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime


@dataclass(slots=True)
class Participant:
    call_sid: str
    start_on_enter: bool
    end_on_exit: bool
    joined: float  # time.monotonic()


@dataclass(slots=True)
class FakeConference:
    name: str
    account_sid: str
    sid: str = field(default_factory=lambda: "CF" + secrets.token_hex(16))
    status: str = "init"  # init, in-progress, completed
    participants: dict[str, Participant] = field(default_factory=dict)
    created: datetime = field(default_factory=lambda: datetime.now(UTC))
    updated: datetime = field(default_factory=lambda: datetime.now(UTC))
    started: asyncio.Event = field(default_factory=asyncio.Event)
    ended: asyncio.Event = field(default_factory=asyncio.Event)
    ended_by: str | None = None
    ever_joined: list[str] = field(default_factory=list)


class Conferences:
    """The account's conferences by friendly name (one live room per name) and by sid."""

    def __init__(self) -> None:
        self._live: dict[tuple[str, str], FakeConference] = {}
        self.by_sid: dict[str, FakeConference] = {}

    def named(self, account_sid: str, name: str) -> FakeConference | None:
        return self._live.get((account_sid, name))

    def join(
        self,
        account_sid: str,
        name: str,
        call_sid: str,
        *,
        start_on_enter: bool,
        end_on_exit: bool,
        now: float,
    ) -> FakeConference:
        room = self._live.get((account_sid, name))
        if room is None:
            room = FakeConference(name, account_sid)
            self._live[(account_sid, name)] = room
            self.by_sid[room.sid] = room
        room.participants[call_sid] = Participant(call_sid, start_on_enter, end_on_exit, now)
        room.ever_joined.append(call_sid)
        if start_on_enter and room.status == "init":
            room.status = "in-progress"
            room.started.set()
        room.updated = datetime.now(UTC)
        return room

    def leave(self, room: FakeConference, call_sid: str) -> None:
        """`call_sid` left (hung up, or its call was redirected elsewhere)."""
        who = room.participants.pop(call_sid, None)
        if who is None or room.status == "completed":
            return
        if who.end_on_exit or not room.participants:
            room.status, room.ended_by = "completed", call_sid
            room.updated = datetime.now(UTC)
            self._live.pop((room.account_sid, room.name), None)
            room.ended.set()
