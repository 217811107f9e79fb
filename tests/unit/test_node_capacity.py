"""When a node is full (engine.node_capacity): slots, memory, CPU over a window."""

from __future__ import annotations

from engine.node_capacity import (
    CPU_WINDOW_S,
    MIN_FREE_MEMORY_BYTES,
    CpuWindow,
    NodeLoad,
    full_reason,
    node_call_slots,
    ray_call_slots,
)

PLENTY = 8 * 1024**3


def test_slots_follow_the_cores() -> None:
    assert node_call_slots(2) == 100
    assert node_call_slots(0) == 50


def test_ray_gets_a_spare_actors_slots_beyond_the_whole_actors() -> None:
    assert ray_call_slots(100, 50) == 150  # 2 actors serve 100 calls, a third may start
    assert ray_call_slots(100, 25) == 125
    assert ray_call_slots(120, 50) == 200  # 3 actors for 120 calls, and the spare
    assert ray_call_slots(4, 1) == 5


def test_a_node_with_room_admits() -> None:
    assert full_reason(NodeLoad(99, PLENTY, 0.5), capacity=100, cpu_max=0.95) is None
    assert full_reason(NodeLoad(10_000, PLENTY, None), capacity=None, cpu_max=None) is None


def test_full_slots_memory_or_cpu_refuse() -> None:
    assert full_reason(NodeLoad(100, PLENTY, 0.1), capacity=100, cpu_max=None) == (
        "all 100 call slots live"
    )
    low = MIN_FREE_MEMORY_BYTES - 1
    assert "MiB of memory free" in str(
        full_reason(NodeLoad(0, low, 0.1), capacity=100, cpu_max=None)
    )
    assert full_reason(NodeLoad(5, PLENTY, 0.97), capacity=100, cpu_max=0.95) == (
        "CPU 97% busy over 5 s"
    )
    # CPU is looked at only when the operator set a limit
    assert full_reason(NodeLoad(5, PLENTY, 1.0), capacity=100, cpu_max=None) is None


def test_cpu_window_needs_most_of_the_window_and_forgets_the_old() -> None:
    window = CpuWindow()
    assert window.busy() is None
    for second in range(3):
        window.add(float(second), busy_s=second * 1.0, total_s=second * 2.0)
    assert window.busy() is None  # 2 s of a 5 s window
    for second in range(3, 30):
        busy = second * 1.0 if second < 20 else 19.0 + (second - 19) * 1.9
        window.add(float(second), busy_s=busy, total_s=second * 2.0)
    assert window.busy() == 0.95  # the last CPU_WINDOW_S seconds only, 1.9 of 2 cores
    assert CPU_WINDOW_S == 5.0
