"""`neurosphere sim` and `neurosphere bench`: the offline realtime simulator on its own, and
the benchmarks (which need the `bench` extra). I/O: sockets."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util

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
    from bench.__main__ import main as bench_main

    code: int = bench_main(list(args.rest))
    return code


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
