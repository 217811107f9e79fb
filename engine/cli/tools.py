"""`neurosphere sim` and `neurosphere bench`: the offline realtime simulator on its own, and
the benchmarks (which need the `bench` extra), run as a child `python -m bench` so the command
line never imports them. I/O: sockets, a child process."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import signal
import subprocess
import sys
from types import FrameType

from engine.cli import common

BENCH_MODULES = ("matplotlib",)  # what the `bench` extra adds that the runs need


def cmd_sim_realtime(args: argparse.Namespace) -> int:
    from engine.sim.realtime import run_standalone

    common.settings()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run_standalone(args.port, args.host))
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    missing = [name for name in BENCH_MODULES if importlib.util.find_spec(name) is None]
    if missing:
        common.err(
            f"error: neurosphere bench needs the `bench` extra ({', '.join(missing)} missing): "
            "pip install 'neurosphere-voice[bench]'"
        )
        return 2
    return run_child([sys.executable, "-m", "bench", *args.rest])


def run_child(command: list[str]) -> int:
    """Run `command` to its end and return its exit code (128 + N when signal N ended it).
    The child has its own process group, so a Ctrl-C at the terminal reaches it once: through
    this process, which forwards SIGINT and SIGTERM to it while it waits."""
    child = subprocess.Popen(command, process_group=0)  # noqa: S603 - the caller builds it

    def forward(signum: int, _frame: FrameType | None) -> None:
        with contextlib.suppress(ProcessLookupError):
            child.send_signal(signum)

    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        code = child.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 128 - code if code < 0 else code


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    bench = sub.add_parser(
        "bench",
        help="benchmarks (calls, ramp, memory) against the engine and a plain relay; needs the "
        "`bench` extra; see bench/README.md",
    )
    bench.add_argument(
        "rest", nargs=argparse.REMAINDER, help="the benchmark and its options (bench --help)"
    )
    bench.set_defaults(func=cmd_bench)

    sim = sub.add_parser("sim", help="the shipped simulators, run on their own")
    kinds = sim.add_subparsers(dest="kind", required=True)
    realtime = kinds.add_parser("realtime", help="run the offline OpenAI Realtime simulator")
    realtime.add_argument("--port", type=int, default=8765, help="port to listen on (8765)")
    realtime.add_argument("--host", default="127.0.0.1", help="address to bind (127.0.0.1)")
    realtime.set_defaults(func=cmd_sim_realtime)
