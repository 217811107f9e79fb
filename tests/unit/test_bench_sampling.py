"""Which part of a benchmark a process belongs to, from its command line (bench/sampling.py)."""

from __future__ import annotations

import pytest

from bench.sampling import role_of


@pytest.mark.parametrize(
    ("cmdline", "role"),
    [
        ("ray::CallActor", "call actors"),
        ("ray::CallActor.prepare", "call actors"),
        # Ray titles the process after the task it runs: a call actor with a call live
        ("ray::call CA9d3ae5eef0fed1a7e7090e780f01d685 (Bench Agency 0)", "call actors"),
        ("ray::CallPool.warm_up", "control actors"),
        ("ray::TenantActor", "control actors"),
        ("ray::ServeReplica:neurosphere:ingress", "serve"),
        ("ray::DashboardAgent", "ray system"),
        ("ray::IDLE", "ray system"),
        ("/x/.venv/bin/python -m bench.loadgen", "callers"),
        ("/x/.venv/bin/python -m bench.simproc --port 0", "simulator"),
        ("/x/pginstall/bin/postgres -D /tmp/pg", "postgres"),
    ],
)
def test_each_process_is_counted_in_its_role(cmdline: str, role: str) -> None:
    assert role_of(cmdline, pid=10, driver_pid=1) == role


def test_the_driver_is_known_by_its_pid() -> None:
    assert role_of("python -m bench soak", pid=1, driver_pid=1) == "driver"
