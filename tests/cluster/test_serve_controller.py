"""Serve's controller in the engine's local Ray runs its control loop at the engine's period
(actors.ray_runtime), not Ray's default of ten times a second."""

from __future__ import annotations

import psutil
import pytest

from actors import ray_runtime
from engine.cli.runtime import Engine

pytestmark = pytest.mark.cluster


def test_the_serve_controller_loops_at_the_engines_period(ray_engine: Engine) -> None:
    # the local Ray's processes are this process's descendants (other Rays on the machine are not)
    (controller,) = [
        p
        for p in psutil.Process().children(recursive=True)
        if p.cmdline()[:1] and p.cmdline()[0].startswith("ray::ServeController")
    ]
    environ = controller.environ()
    assert environ.get("RAY_SERVE_CONTROL_LOOP_INTERVAL_S") == ray_runtime.SERVE_CONTROL_LOOP_S
