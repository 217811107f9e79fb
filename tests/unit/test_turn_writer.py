"""The rolling history: ordered sequence numbers, consolidation at 400 turns, batched writes
that retry without duplicates (against a hand-written MemoryClient fake)."""

from __future__ import annotations

from collections.abc import Sequence

from actors.ports import TurnBatch
from actors.turn_writer import CONSOLIDATE_AT, CONSOLIDATE_OLDEST, KEEP_AFTER, TurnWriter
from engine.redact import CARD
from memory.call_records import Turn
from tests.unit.session_fakes import each_batch


class FlakyStore:
    """Appends turns; fails the first `failures` writes."""

    def __init__(self, failures: int = 0) -> None:
        self.failures = failures
        self.rows: dict[int, Turn] = {}
        self.batches: list[list[int]] = []

    async def append_turns(self, token: str, call_sid: str, turns: Sequence[Turn]) -> None:
        self.batches.append([t.seq for t in turns])
        if self.failures:
            self.failures -= 1
            raise ConnectionError("database went away")
        for turn in turns:
            self.rows.setdefault(turn.seq, turn)

    async def append_turn_batches(self, batches: Sequence[TurnBatch]) -> list[str | None]:
        return await each_batch(self.append_turns, batches)


def writer(store: FlakyStore, sink: list[list[Turn]] | None = None) -> TurnWriter:
    on = sink.append if sink is not None else None
    w = TurnWriter(store, "token", "CA1", on_consolidate=on)  # type: ignore[arg-type]
    w.mark_ready()
    return w


async def test_consolidation_at_400_hands_over_the_oldest_200_and_keeps_300() -> None:
    sink: list[list[Turn]] = []
    w = writer(FlakyStore(), sink)
    for i in range(CONSOLIDATE_AT - 1):
        w.add("caller", f"line {i}")
    assert sink == []
    assert len(w.history) == CONSOLIDATE_AT - 1
    w.add("agent", "line 399")
    assert len(sink) == 1
    assert [t.seq for t in sink[0]] == list(range(CONSOLIDATE_OLDEST))
    assert len(w.history) == KEEP_AFTER
    assert [t.seq for t in w.history] == list(range(100, 400))
    for i in range(99):  # back to 399: no second hand-over yet
        w.add("caller", f"more {i}")
    assert len(sink) == 1
    w.add("caller", "the 400th again")
    assert len(sink) == 2
    assert [t.seq for t in sink[1]] == list(range(100, 300))


async def test_a_failed_batch_is_sent_again_and_lands_once() -> None:
    store = FlakyStore(failures=1)
    w = writer(store)
    for i in range(3):
        w.add("caller", f"line {i}")
    assert not await w.flush()
    w.add("agent", "reply")
    assert await w.flush()
    assert store.batches == [[0, 1, 2], [0, 1, 2, 3]]
    assert sorted(store.rows) == [0, 1, 2, 3]


async def test_resumed_call_numbers_after_the_earlier_turns() -> None:
    from datetime import UTC, datetime

    w = writer(FlakyStore())
    now = datetime.now(UTC)
    w.preload([Turn(0, "agent", "hello", now), Turn(1, "caller", "hi", now)])
    turn = w.add("agent", "sorry about that")
    assert turn.seq == 2
    assert [t.text for t in w.history] == ["hello", "hi", "sorry about that"]


async def test_a_redacting_writer_masks_card_numbers_before_a_turn_is_kept_or_written() -> None:
    store = FlakyStore()
    w = TurnWriter(store, "token", "CA1", redact=True)  # type: ignore[arg-type]
    w.mark_ready()
    w.add("caller", "my card is 4111 1111 1111 1111")
    plain = writer(store)
    plain.add("caller", "policy 4111 1111 1111 1111")
    assert [t.text for t in w.history] == [f"my card is {CARD}"]
    assert [t.text for t in plain.history] == ["policy 4111 1111 1111 1111"]
    assert await w.flush()
    assert store.rows[0].text == f"my card is {CARD}"
