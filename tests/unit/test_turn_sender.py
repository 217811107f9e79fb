"""A call actor process's transcript writes, coalesced: its calls' writers hand their batches to
one sender, which makes one request per tick carrying every call's batch, each with its own
token and its own answer (against a hand-written MemoryClient fake)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

from actors.ports import TurnBatch
from actors.turn_sender import TICK_S, TurnSender, shared_sender
from actors.turn_writer import TurnWriter


class BatchStore:
    """Takes many calls' batches per request; refuses the tokens in `refused`."""

    def __init__(self, refused: set[str] | None = None) -> None:
        self.refused = set(refused or ())
        self.requests: list[list[TurnBatch]] = []
        self.rows: dict[str, list[int]] = {}

    async def append_turn_batches(self, batches: Sequence[TurnBatch]) -> list[str | None]:
        self.requests.append(list(batches))
        answers: list[str | None] = []
        for batch in batches:
            if batch.token in self.refused:
                answers.append("TokenError('expired')")
                continue
            stored = self.rows.setdefault(batch.call_sid, [])
            stored.extend(t.seq for t in batch.turns if t.seq not in stored)
            answers.append(None)
        return answers


def writers(store: BatchStore, n: int, sender: TurnSender | None = None) -> list[TurnWriter]:
    made = []
    for i in range(n):
        w = TurnWriter(store, f"token-{i}", f"CA{i}", sender=sender)  # type: ignore[arg-type]
        w.mark_ready()
        made.append(w)
    return made


async def _run_for(ws: list[TurnWriter], seconds: float) -> None:
    tasks = [asyncio.create_task(w.run()) for w in ws]
    await asyncio.sleep(seconds)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def test_a_process_sends_all_its_calls_batches_in_one_request_per_tick() -> None:
    store = BatchStore()
    ws = writers(store, 5)  # no sender given: they share the process's sender over `store`
    for w in ws:
        w.add("caller", "hello")
        w.add("agent", "hi there")
    await _run_for(ws, TICK_S + 0.15)  # one tick and a bit
    assert len(store.requests) == 1
    assert sorted(b.call_sid for b in store.requests[0]) == [f"CA{i}" for i in range(5)]
    assert {b.call_sid: b.token for b in store.requests[0]}["CA3"] == "token-3"
    assert all(w.pending == 0 for w in ws)
    assert store.rows == {f"CA{i}": [0, 1] for i in range(5)}
    assert shared_sender(store).requests == 1  # type: ignore[arg-type]


async def test_a_refused_batch_stays_pending_and_the_others_land() -> None:
    store = BatchStore(refused={"token-1"})
    sender = TurnSender(store, tick_s=0.05)  # type: ignore[arg-type]
    ws = writers(store, 3, sender)
    for w in ws:
        w.add("caller", "hello")
    await _run_for(ws, 0.12)
    assert [w.pending for w in ws] == [0, 1, 0]
    assert "CA1" not in store.rows
    store.refused.clear()  # a fresh token, say: the turns go with the next attempt
    ws[1].add("agent", "sorry?")
    assert await ws[1].flush()
    assert store.rows == {"CA0": [0], "CA1": [0, 1], "CA2": [0]}


async def test_a_failed_request_fails_every_batch_in_it_and_they_go_again() -> None:
    class Down(BatchStore):
        down = True

        async def append_turn_batches(self, batches: Sequence[TurnBatch]) -> list[str | None]:
            if self.down:
                raise ConnectionError("memory actor gone")
            return await super().append_turn_batches(batches)

    store = Down()
    sender = TurnSender(store, tick_s=0.05)  # type: ignore[arg-type]
    ws = writers(store, 2, sender)
    for w in ws:
        w.add("caller", "hello")
    assert not any(await asyncio.gather(*(w.flush(now=False) for w in ws)))
    store.down = False
    assert all(await asyncio.gather(*(w.flush(now=False) for w in ws)))
    assert store.rows == {"CA0": [0], "CA1": [0]}
    assert sender.requests == 2


async def test_a_last_flush_goes_at_once_and_takes_what_waits_for_the_tick() -> None:
    store = BatchStore()
    sender = TurnSender(store, tick_s=30.0)  # type: ignore[arg-type]
    waiting, ending = writers(store, 2, sender)
    waiting.add("caller", "still talking")
    ending.add("agent", "goodbye")
    ticked = asyncio.create_task(waiting.flush(now=False))
    await asyncio.sleep(0.01)
    assert store.requests == []  # waits for the tick
    started = time.monotonic()
    assert await ending.flush()  # the call's last writes: now
    assert time.monotonic() - started < 1.0
    assert await ticked
    assert len(store.requests) == 1
    assert store.rows == {"CA0": [0], "CA1": [0]}


async def test_a_writer_that_stops_waiting_takes_its_batch_back() -> None:
    store = BatchStore()
    sender = TurnSender(store, tick_s=0.1)  # type: ignore[arg-type]
    (w,) = writers(store, 1, sender)
    w.add("caller", "hello")
    flushing = asyncio.create_task(w.flush(now=False))
    await asyncio.sleep(0.01)
    flushing.cancel()
    await asyncio.gather(flushing, return_exceptions=True)
    await asyncio.sleep(0.2)
    assert store.requests == []
    assert w.pending == 1


async def test_a_call_has_one_batch_on_the_way_at_a_time_and_they_land_in_order() -> None:
    class Slow(BatchStore):
        on_the_way = 0
        most_on_the_way = 0

        async def append_turn_batches(self, batches: Sequence[TurnBatch]) -> list[str | None]:
            self.on_the_way += 1
            self.most_on_the_way = max(self.most_on_the_way, self.on_the_way)
            await asyncio.sleep(0.08)  # longer than a tick
            self.on_the_way -= 1
            return await super().append_turn_batches(batches)

    store = Slow()
    sender = TurnSender(store, tick_s=0.02)  # type: ignore[arg-type]
    (w,) = writers(store, 1, sender)
    runner = asyncio.create_task(w.run())
    for i in range(10):
        w.add("caller", f"line {i}")
        await asyncio.sleep(0.015)
    await asyncio.sleep(0.3)
    runner.cancel()
    await asyncio.gather(runner, return_exceptions=True)
    assert store.rows == {"CA0": list(range(10))}
    firsts = [r[0].turns[0].seq for r in store.requests]
    assert firsts == sorted(firsts)
    assert store.most_on_the_way == 1  # never two of the call's batches at once


async def test_turns_added_while_a_call_waits_for_the_tick_go_with_it() -> None:
    """The crash window is one tick: a turn added while the call's batch waits for the tick
    leaves with that tick, not with the one after."""
    store = BatchStore()
    sender = TurnSender(store, tick_s=0.1)  # type: ignore[arg-type]
    (w,) = writers(store, 1, sender)
    runner = asyncio.create_task(w.run())
    w.add("caller", "hello")
    await asyncio.sleep(0.03)  # handed over, waiting for the tick
    w.add("agent", "hi there")
    await asyncio.sleep(0.12)  # the tick has gone
    assert [[t.seq for t in r[0].turns] for r in store.requests] == [[0, 1]]
    assert w.pending == 0
    runner.cancel()
    await asyncio.gather(runner, return_exceptions=True)
