"""Warm cover for a lost node: the calls on any one node can resume on warm actors elsewhere.

When a node dies its calls come back through Twilio's `<Connect action>` within a second or
so, each needing a free slot on another node. A warm slot takes a resume in milliseconds; a
cold actor start costs a Ray worker process and its imports (1.2-1.8 s on 2 cores). So, once
the pool's actors run on more than one node, it keeps for every node that carries calls at
least as many free slots on the other nodes as that node has calls. Suspect nodes neither
count as cover nor are covered (their calls are already resuming). When a start meant for
another node lands on the covered one (no other node has room), cover is not tried again for
COVER_RETRY_S. Pure but for the clock (passed in) and a log line: the pool's actors as data
(actors/pool_actors.py).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence

import structlog

from actors import pool_actors
from actors.pool_actors import PoolActor

log = structlog.get_logger(__name__)

COVER_RETRY_S = 30.0


def _by_node(
    actors: Iterable[PoolActor], capacity: int, suspects: frozenset[str]
) -> tuple[Counter[str], Counter[str]]:
    calls: Counter[str] = Counter()
    free: Counter[str] = Counter()
    for actor in actors:
        node = actor.address.node
        if not node or node in suspects:
            continue
        calls[node] += len(actor.calls)
        free[node] += 0 if actor.retired else capacity - len(actor.calls)
    return calls, free


def uncovered(
    actors: Sequence[PoolActor], capacity: int, suspects: frozenset[str] = frozenset()
) -> str | None:
    """The node (the one with most calls first) whose calls the free slots on the other nodes
    could not all take if it were lost, or None. None too while the actors run on one node
    only: there is no elsewhere to keep warm."""
    calls, free = _by_node(actors, capacity, suspects)
    if len(free) < 2:
        return None
    total = sum(free.values())
    for node, count in calls.most_common():
        if count and total - free[node] < count:
            return node
    return None


def away(suspects: frozenset[str], gap: str | None) -> frozenset[str]:
    """The nodes a new actor should not start on: the suspect ones and the one it covers."""
    return suspects if gap is None else suspects | {gap}


def idle_surplus(
    actors: Sequence[PoolActor], capacity: int, target: int, suspects: frozenset[str]
) -> PoolActor | None:
    """pool_actors.idle_surplus, among the idle actors the cover can spare."""

    def may_go(actor: PoolActor) -> bool:
        return keeps_cover(actors, capacity, actor, suspects)

    return pool_actors.idle_surplus(actors, capacity, target, may_go)


def _cover(
    actors: Iterable[PoolActor], capacity: int, suspects: frozenset[str]
) -> dict[str, tuple[int, int]]:
    """Each node with calls: (its calls, the free slots on the other nodes)."""
    calls, free = _by_node(actors, capacity, suspects)
    total = sum(free.values())
    return {node: (count, total - free[node]) for node, count in calls.items() if count}


def keeps_cover(
    actors: Sequence[PoolActor],
    capacity: int,
    leaving: PoolActor,
    suspects: frozenset[str] = frozenset(),
) -> bool:
    """Whether the pool may let `leaving` (an idle actor) go: no node's calls lose cover they
    have now (on one node there is none to lose)."""
    after = _cover([a for a in actors if a is not leaving], capacity, suspects)
    return all(
        after.get(node, (count, 0))[1] >= min(count, elsewhere)
        for node, (count, elsewhere) in _cover(actors, capacity, suspects).items()
    )


class Cover:
    """The pool's cover state: which node needs warm slots elsewhere now, and a pause after a
    start meant for elsewhere landed on that node anyway (no other node had room for it)."""

    def __init__(self, retry_s: float = COVER_RETRY_S, clock: Callable[[], float] = time.monotonic):
        self._retry_s = retry_s
        self._clock = clock
        self._paused_until = 0.0

    def gap(
        self, actors: Sequence[PoolActor], capacity: int, suspects: frozenset[str]
    ) -> str | None:
        """The node to start an actor away from, or None (covered, or paused)."""
        if self._clock() < self._paused_until:
            return None
        return uncovered(actors, capacity, suspects)

    def started(self, away_from: str | None, node: str) -> None:
        """An actor meant for another node than `away_from` (None: any node) started on
        `node`."""
        if away_from is not None and node == away_from:
            self._paused_until = self._clock() + self._retry_s
            log.warning("call_cover_unavailable", node=away_from, retry_in_s=self._retry_s)
