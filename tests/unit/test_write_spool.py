"""The write spool: durable, ordered, private, and drained only as far as writes went in."""

from __future__ import annotations

import stat
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from memory.call_records import Turn
from memory.write_spool import WriteSpool, decode_turn, encode_turn


async def test_writes_survive_a_restart_and_drain_in_order_up_to_a_failure(
    tmp_path: Path,
) -> None:
    path = tmp_path / "spool" / "memory-0.jsonl"
    spool = WriteSpool(path)
    for n in range(4):
        await spool.add("turns", "t-1", "CA1", n)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    with path.open("a") as file:
        file.write('{"op": "tur')  # a line cut short by a crash
    applied: list[Any] = []

    async def apply(line: dict[str, Any]) -> None:
        if line["data"] == 2:
            raise ConnectionRefusedError("database down")
        applied.append(line["data"])

    restarted = WriteSpool(path)
    assert await restarted.load() == 4
    await restarted.add("turns", "t-1", "CA1", 4)  # after the broken line: not lost with it
    assert await WriteSpool(path).load() == 5
    with pytest.raises(ConnectionRefusedError):
        await restarted.drain(apply)
    assert applied == [0, 1]
    assert await WriteSpool(path).load() == 3  # what went in is gone from the file

    async def apply_all(line: dict[str, Any]) -> None:
        applied.append(line["data"])

    assert await restarted.drain(apply_all) == 3
    assert applied == [0, 1, 2, 3, 4]
    assert await WriteSpool(path).load() == 0
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_turn_round_trips_through_json() -> None:
    turn = Turn(3, "caller", "Hi", datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC), {"k": 1})
    assert decode_turn(encode_turn(turn)) == turn
