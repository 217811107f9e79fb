"""Write-behind of transcript turns: ordered, batched, retried, off the audio path; and the
rolling history's consolidation (at 400 turns the oldest 200 go to memory extraction and the
history keeps the newest 300; every turn is in Postgres regardless).

Turns get their sequence numbers here, in the order they happen, enter a rolling deque (the
call's working history, max 500) and a pending list that a background task hands, as one batch,
to the process's turn sender (actors.turn_sender): every call in the call actor process goes out
in the same request at the sender's next tick. A batch that fails stays pending and is sent
again; the `(tenant, call, seq)` key makes the retry harmless. With `redact` (the tenant's PII
redaction), card and Social Security numbers are masked before a turn is kept anywhere
(engine.redact).

Crash window: a call's pending turns leave the process at the sender's next tick, at most
TICK_S (half a second) after the first of them was added; a turn added while the call's previous
batch is on its way waits for that answer (normally a few milliseconds; at worst SEND_TIMEOUT_S)
and then the next tick. So when the process dies, what is lost is at most the last half second
of turns (plus a batch on its way). Each call used to write every quarter second on its own;
the process's calls now share a tick twice as long, for fewer and larger requests.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime

import structlog

from actors.ports import MemoryClient
from actors.turn_sender import TurnSender, shared_sender
from engine.redact import redact as redact_pii
from memory.call_records import Turn, TurnRole

log = structlog.get_logger(__name__)

HISTORY_MAX = 500
CONSOLIDATE_AT = 400  # when the rolling history reaches this many turns,
CONSOLIDATE_OLDEST = 200  # the oldest this many go to memory extraction,
KEEP_AFTER = 300  # and the history keeps the newest this many
MAX_BACKOFF_S = 5.0


class TurnWriter:
    def __init__(
        self,
        memory: MemoryClient,
        token: str,
        call_sid: str,
        first_seq: int = 0,
        on_consolidate: Callable[[list[Turn]], None] | None = None,
        *,
        redact: bool = False,
        sender: TurnSender | None = None,
    ) -> None:
        self._memory = memory
        self._sender = sender  # None: the process's sender over `memory`, on first use
        self._redact = redact
        self._token = token
        self._call_sid = call_sid
        self._next_seq = first_seq
        self.history: deque[Turn] = deque(maxlen=HISTORY_MAX)
        self._pending: list[Turn] = []
        self._wake = asyncio.Event()
        self._ready = asyncio.Event()  # set once the call row exists
        self._lock = asyncio.Lock()
        self._on_consolidate = on_consolidate

    def preload(self, turns: list[Turn]) -> None:
        """Continue a call resumed on a new actor: its earlier turns become the history, and
        new turns are numbered after them."""
        self.history.extend(turns)
        if turns:
            self._next_seq = max(self._next_seq, max(t.seq for t in turns) + 1)

    def mark_ready(self) -> None:
        self._ready.set()
        self._wake.set()

    async def row_written(self) -> None:
        """Returns once the call's row exists (`mark_ready`): what else goes on the row waits
        for it too."""
        await self._ready.wait()

    def add(self, role: TurnRole, text: str, meta: dict[str, object] | None = None) -> Turn:
        if self._redact:
            text = redact_pii(text)
        turn = Turn(seq=self._next_seq, role=role, text=text, at=datetime.now(UTC), meta=meta or {})
        self._next_seq += 1
        self.history.append(turn)
        self._pending.append(turn)
        self._wake.set()
        if len(self.history) >= CONSOLIDATE_AT:
            oldest = [self.history[i] for i in range(CONSOLIDATE_OLDEST)]
            while len(self.history) > KEEP_AFTER:
                self.history.popleft()
            if self._on_consolidate is not None:
                self._on_consolidate(oldest)
        return turn

    @property
    def pending(self) -> int:
        return len(self._pending)

    def _snapshot(self) -> list[Turn]:
        return list(self._pending)

    def _turn_sender(self) -> TurnSender:
        if self._sender is None:
            self._sender = shared_sender(self._memory)
        return self._sender

    async def flush(self, *, now: bool = True) -> bool:
        """Send what is pending; True when nothing is left. `now` (the call's last writes):
        at once, with whatever else the process has waiting; else with the sender's next tick."""
        sender = self._turn_sender()
        if now:
            sender.hurry()  # this call's batch waiting for the tick (the lock) goes now too
        async with self._lock:
            if not self._pending or not self._ready.is_set():
                return not self._pending
            try:
                # bounded by the sender's own timeout; this bounds the wait for the tick too
                async with asyncio.timeout(sender.tick_s + sender.timeout_s + 1.0):
                    # read at the tick: turns only ever join the end of `_pending`, and leave
                    # it only here, under the lock
                    sent = await sender.send(self._token, self._call_sid, self._snapshot, now=now)
            except Exception as exc:
                log.warning("turn_flush_failed", call_sid=self._call_sid, error=repr(exc))
                return False
            del self._pending[:sent]
            return not self._pending

    async def run(self) -> None:
        """Hand what is pending to the sender's next tick whenever there is something, until
        cancelled; after a failure, again after a backoff (doubling up to MAX_BACKOFF_S)."""
        backoff = self._turn_sender().tick_s
        while True:
            await self._wake.wait()
            self._wake.clear()
            if await self.flush(now=False):
                backoff = self._turn_sender().tick_s
            else:
                self._wake.set()
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_S)
