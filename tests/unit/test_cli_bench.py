"""`neurosphere bench` runs the benchmarks as a child process (`python -m bench`): the command
line never imports `bench`, passes the arguments through and hands back the exit code."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PROBE = textwrap.dedent(
    """
    import sys
    from engine import cli
    try:
        code = cli.main(sys.argv[1:])
    except SystemExit as stop:
        code = stop.code
    loaded = sorted(m for m in sys.modules if m == "bench" or m.startswith("bench."))
    print("EXIT", code, "BENCH", ",".join(loaded) or "-")
    """
)


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - this interpreter, a fixed script
        [sys.executable, "-c", PROBE, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_bench_help_comes_from_a_child_and_bench_is_never_imported() -> None:
    done = _run("bench", "calls", "--help")
    assert done.returncode == 0, done.stderr
    assert "usage: python -m bench calls" in done.stdout
    assert done.stdout.splitlines()[-1] == "EXIT 0 BENCH -"


def test_the_childs_exit_code_comes_back() -> None:
    done = _run("bench", "no-such-benchmark")
    assert "invalid choice" in done.stderr
    assert done.stdout.splitlines()[-1] == "EXIT 2 BENCH -"


CHILD = (
    "import signal, sys, time\n"
    "signal.signal(signal.SIGTERM, lambda *_: sys.exit(7))\n"
    "signal.signal(signal.SIGINT, lambda *_: sys.exit(8))\n"
    "print('ready', flush=True)\n"
    "time.sleep(60)\n"
)


def _forwarding(sig: signal.Signals) -> tuple[int, str]:
    """A parent running a child through `run_child` gets `sig`; the child's answer comes back."""
    parent = subprocess.Popen(  # noqa: S603 - this interpreter, a fixed script
        [
            sys.executable,
            "-c",
            "import sys; from engine.cli.tools import run_child; "
            f"sys.exit(run_child([sys.executable, '-c', {CHILD!r}]))",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert parent.stdout is not None
    assert parent.stdout.readline() == "ready\n"
    parent.send_signal(sig)
    code = parent.wait(timeout=30)
    return code, parent.stdout.read()


def test_sigterm_and_ctrl_c_reach_the_child() -> None:
    assert _forwarding(signal.SIGTERM)[0] == 7
    assert _forwarding(signal.SIGINT)[0] == 8
