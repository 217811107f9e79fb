"""Where the engine's CPU goes: py-spy on the processes of a running benchmark (I/O: py-spy).

`Profiler.start(name, pids, seconds)` runs `py-spy record --nonblocking --format raw` on each
pid in the background (sampling without pausing the process, so the measurement it explains is
barely disturbed); `Profiler.collect()` waits for them and folds the collapsed stacks into the
functions that hold the CPU: *self* (the innermost frame of a sample) and *inclusive* (any frame
of it, counted once per sample). py-spy is not a project dependency: it is looked for beside
this Python (a venv's bin, where `pip install py-spy` puts it) and then on PATH; without it the
profiler reports that and does nothing.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

_COUNT = re.compile(r"^(.*) (\d+)$")
_FRAME_FILE = re.compile(r" \((?:[^()]*/)?(?P<file>[^/()]+?):\d+\)$")


def pids_titled(prefix: str) -> list[int]:
    """Pids of this driver's descendants whose process title starts with `prefix`."""
    found = []
    for proc in psutil.Process(os.getpid()).children(recursive=True):
        with contextlib.suppress(psutil.Error):
            if " ".join(proc.cmdline()).startswith(prefix):
                found.append(proc.pid)
    return found


def _frame_name(frame: str) -> str:
    """`func (path/file.py:12)` -> `func (file.py)`: lines merged, paths shortened."""
    match = _FRAME_FILE.search(frame)
    if match is None:
        return frame.strip()
    return f"{frame[: match.start()].strip()} ({match.group('file')})"


def fold(text: str, top: int = 25) -> dict[str, Any]:
    """Top self and inclusive functions of py-spy collapsed stacks (`a;b;c count` lines)."""
    self_counts: Counter[str] = Counter()
    incl_counts: Counter[str] = Counter()
    total = 0
    for line in text.splitlines():
        match = _COUNT.match(line.strip())
        if match is None:
            continue
        stack, count = match.group(1), int(match.group(2))
        frames = [_frame_name(f) for f in stack.split(";") if f]
        if not frames:
            continue
        total += count
        self_counts[frames[-1]] += count
        for name in set(frames[1:]):  # the first frame is the process/thread label
            incl_counts[name] += count

    def table(counts: Counter[str]) -> list[tuple[str, float]]:
        return [(name, round(100.0 * n / total, 1)) for name, n in counts.most_common(top)]

    return {"samples": total, "self_pct": table(self_counts), "inclusive_pct": table(incl_counts)}


def find_py_spy(interpreter: str = sys.executable, path: str | None = None) -> str | None:
    """py-spy beside `interpreter` (its venv's bin: the bench run from a venv that is not on
    PATH), else on `path` (PATH when None)."""
    beside = str(Path(interpreter).parent)  # not resolved: a venv's python links elsewhere
    return shutil.which("py-spy", path=beside) or shutil.which("py-spy", path=path)


@dataclass(slots=True)
class _Job:
    name: str
    pid: int
    path: Path
    proc: subprocess.Popen[bytes]


@dataclass(slots=True)
class Profiler:
    out_dir: Path
    rate: int = 100
    jobs: list[_Job] = field(default_factory=list)
    exe: str | None = field(default_factory=find_py_spy)

    def start(self, name: str, pids: list[int], seconds: float) -> None:
        if self.exe is None:
            return
        self.out_dir.mkdir(parents=True, exist_ok=True)
        for pid in pids:
            stem = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
            path = self.out_dir / f"{stem}-{pid}.txt"
            cmd = [
                self.exe,
                "record",
                "--pid",
                str(pid),
                "--duration",
                str(max(1, round(seconds))),
                "--rate",
                str(self.rate),
                "--format",
                "raw",
                "--nonblocking",
                "--output",
                str(path),
            ]
            proc = subprocess.Popen(  # noqa: S603 - py-spy beside Python or on PATH, our own pids
                cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
            self.jobs.append(_Job(name, pid, path, proc))

    def collect(self, timeout: float = 60.0) -> dict[str, Any]:
        """Wait for every recording; per name, the folded profile of all its pids."""
        if self.exe is None:
            return {"error": "py-spy not found beside Python or on PATH (pip install py-spy)"}
        texts: dict[str, list[str]] = {}
        pids: dict[str, list[int]] = {}
        for job in self.jobs:
            try:
                job.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                job.proc.kill()
                job.proc.wait(5)
            if job.path.exists():
                texts.setdefault(job.name, []).append(job.path.read_text(errors="replace"))
                pids.setdefault(job.name, []).append(job.pid)
        self.jobs.clear()
        return {
            name: {"pids": pids[name], **fold("\n".join(parts))} for name, parts in texts.items()
        }
