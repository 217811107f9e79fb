"""Serve's controller in the engine's local Ray runs its control loop at the engine's period
(actors.ray_runtime), not Ray's default of ten times a second; the local Ray's processes do not
time their event loops' handlers."""

from __future__ import annotations

import psutil
import pytest
import ray
from ray.util.state import list_actors

from actors import ray_runtime
from engine.cli.runtime import Engine

pytestmark = pytest.mark.cluster


def _controller_environ() -> dict[str, str]:
    """The environment of the Serve controller's process in the session's own Ray (found by
    its address: other tests' `serve` children run Rays of their own)."""
    (actor,) = list_actors(
        address=ray.get_runtime_context().gcs_address,
        filters=[("class_name", "=", "ServeController"), ("state", "=", "ALIVE")],
        detail=True,
        raise_on_missing_output=False,
    )
    environ: dict[str, str] = psutil.Process(actor.pid).environ()
    return environ


def test_the_serve_controller_loops_at_the_engines_period(ray_engine: Engine) -> None:
    environ = _controller_environ()
    assert environ.get("RAY_SERVE_CONTROL_LOOP_INTERVAL_S") == ray_runtime.SERVE_CONTROL_LOOP_S


def test_the_local_rays_processes_run_without_event_loop_timing(ray_engine: Engine) -> None:
    """Ray's per-handler timing of its event loops is off in the engine's local Ray: its
    workers (here the Serve controller, started by the raylet) have it from the environment."""
    environ = _controller_environ()
    assert environ.get("RAY_event_stats") == ray_runtime.EVENT_STATS
