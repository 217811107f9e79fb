"""`neurosphere pool drain`: a rolling replacement of a running engine's call actors (an
upgrade): the actors serving calls now take no new call, new calls go to new actors, the old
calls finish up to the bound and the rest are ended with their outcome recorded. I/O: the
engine's Ray cluster (RAY_ADDRESS)."""

from __future__ import annotations

import argparse
from typing import Any

from engine.cli import common


def cmd_drain(args: argparse.Namespace) -> int:
    settings = common.settings()
    if not settings.ray_address:
        common.err("error: RAY_ADDRESS must name the Ray cluster the engine runs on")
        return 2
    import ray

    from actors import handles, ray_runtime

    ray_runtime.init(settings.ray_address, call_slots=0, dashboard=False)
    try:
        pool: Any = ray.get_actor(handles.POOL_NAME, namespace=ray_runtime.NAMESPACE)
    except ValueError:
        common.err(f"error: no engine runs on the Ray cluster at {settings.ray_address}")
        return 2
    bound = settings.drain_timeout_s if args.bound is None else args.bound
    common.out(f"draining the call actors: their calls may go on for up to {bound:g} s")
    result: dict[str, int] = ray.get(pool.drain.remote(bound, admit=True), timeout=bound + 60)
    common.out(
        f"drained: {result['live']} live call(s), {result['finished']} finished, "
        f"{result['ended']} ended at the bound; new calls go to new call actors"
    )
    return 0


def _seconds(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds <= 86400:
        raise argparse.ArgumentTypeError(f"{value} is not a number of seconds (0-86400)")
    return seconds


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    pool = sub.add_parser("pool", help="the call actors of a running engine (RAY_ADDRESS)")
    actions = pool.add_subparsers(dest="action", required=True)
    drain = actions.add_parser(
        "drain",
        help="replace the call actors (an upgrade): new calls go to new actors, live calls "
        "finish up to the bound, then are ended with their outcome",
    )
    drain.add_argument(
        "--bound",
        type=_seconds,
        help="seconds live calls may go on (default NEUROSPHERE_DRAIN_TIMEOUT_S, 120)",
    )
    drain.set_defaults(func=cmd_drain)
