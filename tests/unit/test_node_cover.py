"""Warm cover for a lost node (actors/node_cover.py): which node's calls lack free slots on the
other nodes, which idle actor the pool may let go without losing cover, and the pause after a
start meant for elsewhere landed on the covered node."""

from __future__ import annotations

import itertools

from structlog.testing import capture_logs

from actors import node_cover, pool_actors
from actors.pool_actors import PoolActor
from engine.config import MediaAddress

_ports = itertools.count(20000)


def _actor(node: str, *calls: str, idle_since: float = 0.0, retired: bool = False) -> PoolActor:
    address = MediaAddress("127.0.0.1", next(_ports), node)
    return PoolActor(address, address, set(calls), retired=retired, idle_since=idle_since)


def test_one_node_needs_no_cover() -> None:
    actors = [_actor("a", "CA1"), _actor("a", "CA2"), _actor("a")]
    assert node_cover.uncovered(actors, 1) is None


def test_a_nodes_calls_need_as_many_free_slots_on_the_other_nodes() -> None:
    actors = [_actor("a", "CA1"), _actor("a", "CA2"), _actor("b"), _actor("a")]
    assert node_cover.uncovered(actors, 1) == "a"  # 2 calls on a, 1 free slot elsewhere
    actors.append(_actor("c"))
    assert node_cover.uncovered(actors, 1) is None  # b and c take a's two calls
    actors.append(_actor("b", "CB1"))
    assert node_cover.uncovered(actors, 1) is None  # a and c have a free slot each for CB1


def test_retired_actors_cover_nothing_and_several_slots_count_each() -> None:
    assert node_cover.uncovered([_actor("a", "CA1"), _actor("b", retired=True)], 1) == "a"
    actors = [_actor("a", "CA1", "CA2"), _actor("a", "CA3"), _actor("b", "CB1")]
    assert node_cover.uncovered(actors, 4) is None  # b has 3 free, a has 2+3 free
    assert node_cover.uncovered(actors, 2) == "a"  # 1 free slot on b for a's 3 calls


def test_suspect_nodes_neither_cover_nor_are_covered() -> None:
    actors = [_actor("a", "CA1"), _actor("a", "CA2"), _actor("b"), _actor("c")]
    assert node_cover.uncovered(actors, 1) is None
    assert node_cover.uncovered(actors, 1, frozenset({"c"})) == "a"  # c's actors may be dead
    actors = [_actor("a", "CA1"), _actor("b", "CB1"), _actor("b", "CB2"), _actor("c")]
    assert node_cover.uncovered(actors, 1) == "b"
    assert node_cover.uncovered(actors, 1, frozenset({"b"})) is None  # b's calls are resuming


def test_the_pool_lets_go_only_idle_actors_the_cover_can_spare() -> None:
    call = _actor("a", "CA1")
    oldest = _actor("b", idle_since=1.0)
    newer = _actor("b", idle_since=2.0)
    here = _actor("a", idle_since=0.5)  # idle longest, on the node with the call
    actors = [call, oldest, newer, here]
    assert pool_actors.idle_surplus(actors, 1, 1) is here
    assert node_cover.idle_surplus(actors, 1, 1, frozenset()) is here  # b keeps 2 free
    actors.remove(newer)
    assert pool_actors.idle_surplus(actors, 1, 1) is here
    assert node_cover.idle_surplus(actors, 1, 1, frozenset()) is here
    actors.remove(here)  # only b's actor is idle now, and it is a's cover
    assert pool_actors.idle_surplus(actors, 1, 0) is oldest
    assert node_cover.idle_surplus(actors, 1, 0, frozenset()) is None


def test_a_start_that_lands_on_the_covered_node_pauses_cover() -> None:
    now = [100.0]
    cover = node_cover.Cover(retry_s=30.0, clock=lambda: now[0])
    actors = [_actor("a", "CA1"), _actor("b", "CB1")]
    assert cover.gap(actors, 1, frozenset()) == "a"
    cover.started(None, "a")  # a start for the warm target: no cover meant
    cover.started("a", "b")  # went elsewhere, as meant
    assert cover.gap(actors, 1, frozenset()) == "a"
    with capture_logs() as logs:
        cover.started("a", "a")  # no other node had room
    assert [e["event"] for e in logs] == ["call_cover_unavailable"]
    assert cover.gap(actors, 1, frozenset()) is None
    now[0] += 30.0
    assert cover.gap(actors, 1, frozenset()) == "a"
    assert node_cover.away(frozenset({"s"}), "a") == {"s", "a"}
    assert node_cover.away(frozenset({"s"}), None) == {"s"}


def test_on_one_node_idle_actors_go_while_calls_are_live() -> None:
    actors = [_actor("a", "CA1"), _actor("a", idle_since=1.0), _actor("a", idle_since=2.0)]
    assert node_cover.idle_surplus(actors, 1, 1, frozenset()) is actors[1]


def test_cover_being_built_is_not_let_go() -> None:
    """a's two calls have one free slot on b so far: that one stays while more are started."""
    actors = [_actor("a", "CA1"), _actor("a", "CA2"), _actor("b"), _actor("a", idle_since=0.1)]
    assert node_cover.uncovered(actors, 1) == "a"
    assert not node_cover.keeps_cover(actors, 1, actors[2])
    assert node_cover.keeps_cover(actors, 1, actors[3])
