"""What a run was measured on: the machine, its load, a CPU probe and the commit.

I/O: /proc, `git` in the checkout, a fixed pure-Python loop (the CPU probe).
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import psutil

GIT = shutil.which("git") or "git"


ROOT = Path(__file__).resolve().parent.parent


def cpu_probe_ms(steps: int = 5_000_000, repeats: int = 3) -> float:
    """Median time of a fixed pure-Python loop: how fast this (shared, virtual) machine runs
    Python right now. The same code measured on the same box varies with it, so every result
    carries one taken before and one after the run."""
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        total = 0
        for i in range(steps):
            total += i
        times.append(time.perf_counter() - began)
    return round(sorted(times)[len(times) // 2] * 1000.0, 1)


def machine() -> dict[str, Any]:
    """What the numbers were measured on, taken before the run (load average, CPU probe)."""
    model = ""
    with open("/proc/cpuinfo") as handle:
        for line in handle:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break

    def git(*args: str) -> str:
        try:
            return subprocess.run(  # noqa: S603 - fixed git arguments
                [GIT, *args], cwd=ROOT, capture_output=True, text=True, timeout=10, check=False
            ).stdout.strip()
        except OSError:
            return ""

    dirty = git("status", "--porcelain", "--untracked-files=no")
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "kernel": platform.release(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "cpu_probe_ms": [cpu_probe_ms()],
        "git_commit": git("rev-parse", "--short", "HEAD"),
        "git_dirty_files": len(dirty.splitlines()) if dirty else 0,
        "time": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }
