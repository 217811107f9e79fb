"""The call pool's call actors as data: each actor's handle, media address and calls, and the
counts and choices the pool makes over them (free slots, the actor a claim fills, the idle
actor it may let go). Pure: no Ray, no clock but the idle times the pool records.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from engine.config import MediaAddress


@dataclass(eq=False)
class PoolActor:
    handle: Any
    address: MediaAddress
    calls: set[str] = field(default_factory=set)
    retired: bool = False  # takes no new call; let go once its last call is over
    idle_since: float = field(default_factory=time.monotonic)


def free_slots(actors: Iterable[PoolActor], capacity: int) -> int:
    return sum(capacity - len(a.calls) for a in actors if not a.retired)


def claimed(actors: Iterable[PoolActor]) -> int:
    """Slots calls hold now, counted on the actors (retiring ones too), not by CallSid."""
    return sum(len(a.calls) for a in actors)


def warm(actors: Iterable[PoolActor]) -> list[PoolActor]:
    """Actors serving no call that take calls."""
    return [a for a in actors if not a.calls and not a.retired]


def with_room(
    actors: Iterable[PoolActor], capacity: int, node: str | None = None
) -> list[PoolActor]:
    """Actors with a free slot (on `node`, when given)."""
    return [
        a
        for a in actors
        if not a.retired and len(a.calls) < capacity and (node is None or a.address.node == node)
    ]


def busiest_with_room(
    actors: Sequence[PoolActor], capacity: int, suspects: frozenset[str]
) -> PoolActor | None:
    """The actor a claim fills: the busiest with room, so idle actors stay idle and can be let
    go; actors on a node under suspicion only when no other has room."""
    roomy = with_room(actors, capacity)
    trusted = [a for a in roomy if a.address.node not in suspects]
    candidates = trusted or roomy
    return max(candidates, key=lambda a: (len(a.calls), a.idle_since)) if candidates else None


def idle_surplus(
    actors: Sequence[PoolActor],
    capacity: int,
    target: int,
    may_go: Callable[[PoolActor], bool] = lambda actor: True,
) -> PoolActor | None:
    """The longest-idle actor whose slots the warm target does not need and that `may_go`
    allows to leave (the pool's warm cover of each node's calls), if any."""
    if free_slots(actors, capacity) - capacity < target:
        return None
    idle = [a for a in warm(actors) if may_go(a)]
    return min(idle, key=lambda a: a.idle_since) if idle else None
