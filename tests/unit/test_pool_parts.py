"""The call pool's parts on their own: its actors as data (actors/pool_actors.py), the nodes
it avoids (actors/suspect_nodes.py), admission (actors/node_admission.py), draining
(actors/pool_drain.py) and the live reports' totals (actors/report_totals.py)."""

from __future__ import annotations

import asyncio
import dataclasses

from actors import pool_actors, pool_drain
from actors.node_admission import NodeAdmission
from actors.pool_actors import PoolActor
from actors.ports import CallReport
from actors.report_totals import ReportTotals
from actors.suspect_nodes import SuspectNodes
from engine.config import MediaAddress
from engine.task_set import TaskSet
from tests.unit.test_call_pool import CONFIG, FakeActor, FakeFactory


def actor(port: int, calls: int = 0, node: str = "", idle_since: float = 0.0) -> PoolActor:
    calls_ = {f"CA{port}-{i}" for i in range(calls)}
    return PoolActor(
        FakeActor(port), MediaAddress("127.0.0.1", port, node), calls_, False, idle_since
    )


def test_slots_are_counted_on_the_actors() -> None:
    actors = [actor(1, calls=2), actor(2), actor(3, calls=1)]
    actors[2].retired = True  # its call goes on; it takes no new one
    assert pool_actors.free_slots(actors, capacity=3) == 1 + 3
    assert pool_actors.claimed(actors) == 3
    assert pool_actors.warm(actors) == [actors[1]]


def test_a_claim_fills_the_busiest_actor_with_room_away_from_suspect_nodes() -> None:
    busy, idle, suspect, full = actor(1, 1), actor(2), actor(3, 2, node="n2"), actor(4, 3)
    actors = [busy, idle, suspect, full]
    assert pool_actors.busiest_with_room(actors, 3, frozenset()) is suspect
    assert pool_actors.busiest_with_room(actors, 3, frozenset({"n2"})) is busy
    assert pool_actors.busiest_with_room([suspect, full], 3, frozenset({"n2"})) is suspect
    assert pool_actors.busiest_with_room([full], 3, frozenset()) is None
    assert pool_actors.with_room(actors, 3, "n2") == [suspect]


def test_the_longest_idle_actor_beyond_the_warm_target_may_go() -> None:
    older, newer, busy = actor(1, idle_since=1.0), actor(2, idle_since=2.0), actor(3, calls=1)
    assert pool_actors.idle_surplus([older, newer, busy], capacity=1, target=1) is older
    assert pool_actors.idle_surplus([older, newer, busy], capacity=1, target=2) is None


def test_a_suspect_node_is_avoided_for_its_hold_then_trusted_again() -> None:
    now = [100.0]
    suspects = SuspectNodes(hold_s=30.0, clock=lambda: now[0])
    assert suspects.add("n1")
    assert not suspects.add("n1")  # already under suspicion
    assert not suspects.add("")  # no node (outside Ray)
    assert suspects.now() == {"n1"}
    now[0] = 129.9
    assert suspects.now() == {"n1"}
    now[0] = 130.0
    assert suspects.now() == frozenset()
    assert suspects.add("n1")
    suspects.clear("n1")  # an actor there answered
    assert suspects.now() == frozenset()


async def test_admission_refuses_a_call_the_node_has_no_slot_for() -> None:
    admission = NodeAdmission(dataclasses.replace(CONFIG, call_capacity=3), TaskSet("t"))
    assert admission.refusal(2) is None
    assert admission.refusal(3) == "all 3 call slots live"
    assert admission.refusals == 1
    assert admission.wanted_free(target=2, claimed=2) == 1  # one call more fits
    assert admission.wanted_free(target=2, claimed=5) == 0
    unlimited = NodeAdmission(dataclasses.replace(CONFIG, call_capacity=None), TaskSet("t"))
    assert unlimited.wanted_free(target=2, claimed=50) == 2


async def test_no_actor_is_started_beyond_the_slots_ray_has() -> None:
    """Ray books an actor's slots until it exits; a start beyond the node's slots would wait in
    Ray's queue (and Ray then collects garbage in every worker every 10 s). A node of 4 calls
    with actors of 2 gives Ray 6 slots: a third actor fits beside two (one of them retiring),
    a fourth does not, and the claim that would need it overflows at once."""
    config = dataclasses.replace(CONFIG, call_capacity=4, calls_per_actor=2)
    admission = NodeAdmission(config, TaskSet("t"))
    assert admission.fits(2)
    assert not admission.fits(3)
    assert admission.unplaced(2) is None
    assert admission.unplaced(3) == (
        "all 6 of Ray's call slots are booked by call actors finishing their calls"
    )
    assert admission.refusals == 1
    unlimited = NodeAdmission(dataclasses.replace(config, call_capacity=None), TaskSet("t"))
    assert unlimited.fits(1000)


async def test_cpu_admission_samples_the_cpu_once_it_is_asked() -> None:
    tasks = TaskSet("t")
    admission = NodeAdmission(dataclasses.replace(CONFIG, admit_cpu_max=0.99), tasks)
    assert len(tasks) == 0
    assert admission.refusal(0) is None  # no window of samples yet: not refused
    admission.refusal(0)
    assert len(tasks) == 1  # one sampler, however often it is asked
    await tasks.close(1.0)


async def test_a_drain_waits_for_calls_until_its_bound_then_ends_the_rest() -> None:
    finishing, stuck, idle = actor(1, calls=1), actor(2, calls=2), actor(3)
    released = asyncio.Event()

    async def finish_one() -> None:
        await asyncio.sleep(0.05)
        finishing.calls.clear()
        released.set()

    asyncio.get_running_loop().create_task(finish_one())
    began = asyncio.get_running_loop().time()
    await pool_drain.wait_for_calls([finishing, idle], released, bound_s=5.0)
    assert asyncio.get_running_loop().time() - began < 1.0  # not the bound: the call finished
    await pool_drain.wait_for_calls([stuck], released, bound_s=0.2)
    assert stuck.calls
    ended: list[FakeActor] = []

    class Ending(FakeFactory):
        async def shutdown(self, handle: FakeActor, timeout: float) -> str | None:
            ended.append(handle)
            raise RuntimeError("actor gone")  # logged; the pool kills it next

    assert await pool_drain.end_calls(Ending(), [finishing, stuck, idle], bound_s=0.2) == 2
    assert ended == [stuck.handle]


def _report(sid: str, frames: int, outcome: str = "live") -> CallReport:
    return CallReport(sid, "t-1", outcome, frames_in=frames, frames_out=frames, barge_ins=frames)


def test_a_calls_reports_count_what_is_new_once() -> None:
    totals = ReportTotals()
    totals.live(_report("CA1", 10))
    totals.live(_report("CA1", 25))
    totals.live(_report("CA2", 5))
    totals.ended(_report("CA1", 30, "caller_hung_up"))
    stats = totals.stats()
    assert stats["frames"]["in"] == 35
    assert stats["barge_ins"] == 35
    assert stats["outcomes"] == {"caller_hung_up": 1}
    totals.ended(_report("CA2", 7, "agent_hung_up"))
    assert totals.stats()["frames"]["in"] == 37
