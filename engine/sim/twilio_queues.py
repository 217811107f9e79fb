"""Call queues of the Twilio fake (engine.sim.twilio_rest), as `<Enqueue>` makes them: a queue
is created by name on first use (sid QU..., `max_size` 100 as Twilio's default), members join at
the back and hold (hearing the wait URL) until they are dequeued - the Queue Members resource's
update, with the URL whose TwiML the call runs next - or leave: `<Leave>` in the wait TwiML, a
hang-up, a REST redirect of the call. Pure state plus an asyncio event per member that the
simulated call waits on.
"""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime

DEFAULT_MAX_SIZE = 100


@dataclass(slots=True)
class Member:
    call_sid: str
    joined: float  # time.monotonic()
    joined_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    dequeued: asyncio.Event = field(default_factory=asyncio.Event)
    url: str | None = None  # set by a dequeue: the TwiML the call runs next
    method: str = "POST"


@dataclass(slots=True)
class FakeQueue:
    name: str
    account_sid: str
    sid: str = field(default_factory=lambda: "QU" + secrets.token_hex(16))
    max_size: int = DEFAULT_MAX_SIZE
    members: dict[str, Member] = field(default_factory=dict)  # oldest first
    created: datetime = field(default_factory=lambda: datetime.now(UTC))
    updated: datetime = field(default_factory=lambda: datetime.now(UTC))
    waits: list[float] = field(default_factory=list)  # seconds each member who left held

    def position(self, call_sid: str) -> int:
        """1 for the front of the queue."""
        return list(self.members).index(call_sid) + 1

    def average_wait_s(self) -> int:
        return round(sum(self.waits) / len(self.waits)) if self.waits else 0


class Queues:
    """The account's queues by friendly name and by sid."""

    def __init__(self) -> None:
        self._named: dict[tuple[str, str], FakeQueue] = {}
        self.by_sid: dict[str, FakeQueue] = {}

    def named(self, account_sid: str, name: str) -> FakeQueue | None:
        return self._named.get((account_sid, name))

    def of_account(self, account_sid: str) -> list[FakeQueue]:
        return [q for q in self.by_sid.values() if q.account_sid == account_sid]

    def enter(self, account_sid: str, name: str, call_sid: str, now: float) -> FakeQueue | None:
        """`call_sid` joins the back of the queue `name` (made on first use); None when the
        queue is full (Twilio's `QueueResult=queue-full`)."""
        queue = self._named.get((account_sid, name))
        if queue is None:
            queue = FakeQueue(name, account_sid)
            self._named[(account_sid, name)] = queue
            self.by_sid[queue.sid] = queue
        if len(queue.members) >= queue.max_size:
            return None
        queue.members[call_sid] = Member(call_sid, now)
        queue.updated = datetime.now(UTC)
        return queue

    def leave(self, queue: FakeQueue, call_sid: str, now: float) -> None:
        member = queue.members.pop(call_sid, None)
        if member is not None:
            queue.waits.append(now - member.joined)
            queue.updated = datetime.now(UTC)

    @staticmethod
    def dequeue(queue: FakeQueue, call_sid: str, url: str, method: str) -> Member | None:
        """Take `call_sid` off the queue onto `url`; None when it is not a member (or was
        dequeued already). The call leaves the queue when it sees the event."""
        member = queue.members.get(call_sid)
        if member is None or member.dequeued.is_set():
            return None
        member.url, member.method = url, method
        member.dequeued.set()
        return member
