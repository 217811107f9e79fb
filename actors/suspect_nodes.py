"""The nodes the call pool avoids for a while: a node that lost a call's actor may have died
with it, and Ray marks a dead node only after its health checks fail (some 15 s by default);
until then it would place new actors there. Pure but for the clock, which is passed in, and
`silent`, which asks the actors there whatever `alive` asks them.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

T = TypeVar("T")

SUSPECT_HOLD_S = 30.0


class SuspectNodes:
    def __init__(
        self, hold_s: float = SUSPECT_HOLD_S, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._hold_s = hold_s
        self._clock = clock
        self._until: dict[str, float] = {}  # node -> avoided until

    def now(self) -> frozenset[str]:
        """The nodes under suspicion now (a node's hold runs out on its own)."""
        now = self._clock()
        for node in [n for n, until in self._until.items() if until <= now]:
            del self._until[node]
        return frozenset(self._until)

    def add(self, node: str) -> bool:
        """Suspect `node`; False when it is no node or already under suspicion."""
        if not node or node in self.now():
            return False
        self._until[node] = self._clock() + self._hold_s
        return True

    def clear(self, node: str) -> None:
        """An actor on `node` answered: it is trusted again."""
        self._until.pop(node, None)


async def silent(
    actors: Sequence[T], alive: Callable[[T], Awaitable[bool]]
) -> tuple[list[T], bool]:
    """Ask every actor at once: those that did not answer, and whether any did."""
    answers = await asyncio.gather(*(alive(a) for a in actors))
    return [a for a, ok in zip(actors, answers, strict=True) if not ok], any(answers)
