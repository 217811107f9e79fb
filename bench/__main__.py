"""The benchmark command line: `python -m bench calls|ramp|soak|memory ...` (`neurosphere bench`).

  calls   N concurrent simulated calls (default 100, arriving 20/s, held 30 s) against the
          engine and the baseline relay in one run, reported side by side with ratios
  ramp    step the number of concurrent calls up (10, 25, 50, 100, 150, 200, 300) and report
          the most the node holds with p99 added latency < 20 ms and no frame lost
  soak    N calls held for a long time with churn: memory, file descriptors, threads and
          tasks of every engine process, latency per minute, Postgres and /metrics checked
          at the end (bench.soak)
  memory  caller-context lookups over 1M memories (bench.memory_context)

Everything runs on 127.0.0.1. `--webhook-url` (with `--auth-token`, `--to-number` and
`--realtime-port`) points the same load at a relay that is already running and uses the realtime
simulator this command starts on that port. Results go to bench/results/ as JSON, Markdown and
PNG plots. I/O: the driver's; see bench.session.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Sequence
from pathlib import Path

DEFAULT_STEPS = "10,25,50,100,150,200,300"


def _common(parser: argparse.ArgumentParser) -> None:
    target = parser.add_argument_group("target")
    target.add_argument(
        "--webhook-url",
        help="a running relay's webhook base URL (no engine "
        "is started); needs --auth-token, --to-number, --realtime-port",
    )
    target.add_argument("--public-base-url", help="what signatures cover (default: webhook URL)")
    target.add_argument("--auth-token", help="Twilio auth token of the target's number")
    target.add_argument("--to-number", action="append", default=[], help="number to dial")
    target.add_argument(
        "--status-path", default="/twilio/status", help="call status callback path ('' for none)"
    )
    target.add_argument(
        "--realtime-port",
        type=int,
        default=0,
        help="port of the realtime simulator this run starts (0: any free)",
    )
    target.add_argument("--tenants", type=int, default=1, help="bench tenants on the engine")
    target.add_argument("--warm", type=int, help="warm call slots (calls: N; ramp: 50)")
    target.add_argument(
        "--calls-per-actor",
        type=int,
        default=1,
        help="live calls one engine call actor serves at once (NEUROSPHERE_CALLS_PER_ACTOR)",
    )
    target.add_argument(
        "--defaults",
        action="store_true",
        help="the engine on its shipped defaults: --warm, --calls-per-actor and the call slots "
        "are not set",
    )
    load = parser.add_argument_group("load")
    load.add_argument("--barge-in-probability", type=float, default=0.3)
    load.add_argument(
        "--sim-pace",
        type=float,
        default=4.0,
        help="model audio speed vs real time (the simulator's)",
    )
    load.add_argument("--sim-chunk-ms", type=int, default=100)
    load.add_argument("--sim-first-audio-delay-ms", type=int, default=0)
    load.add_argument(
        "--settle",
        type=float,
        default=3.0,
        help="seconds after the last call went live before measuring",
    )
    load.add_argument(
        "--uss-samples",
        type=int,
        default=20,
        help="call actors whose USS is read (smaps is slow to read)",
    )
    load.add_argument("--seed", type=int, default=1)
    load.add_argument(
        "--profile",
        action="store_true",
        help="py-spy the webhook path during arrivals and a few call actors "
        "during the hold (calls, engine only)",
    )
    out = parser.add_argument_group("output")
    out.add_argument("--out", type=Path, help="results directory (default bench/results)")
    out.add_argument("--no-plots", action="store_true")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="mode", required=True)
    calls = sub.add_parser("calls", help="N concurrent calls, engine vs baseline")
    calls.add_argument("--calls", type=int, default=100)
    calls.add_argument("--rate", type=float, default=20.0, help="call arrivals per second")
    calls.add_argument(
        "--duration", type=float, default=30.0, help="seconds to hold all calls once live"
    )
    calls.add_argument("--target", choices=("engine", "baseline", "both"), default="both")
    _common(calls)
    ramp = sub.add_parser("ramp", help="step concurrency up until a limit is missed")
    ramp.add_argument("--steps", default=DEFAULT_STEPS, help="comma-separated call counts")
    ramp.add_argument("--window", type=float, default=20.0, help="seconds measured per step")
    ramp.add_argument("--rate", type=float, default=2.0, help="call arrivals per second")
    ramp.add_argument("--p99-limit-ms", type=float, default=20.0)
    ramp.add_argument(
        "--mem-per-call-mb",
        type=float,
        default=80.0,
        help="memory a call is assumed to need; a step that would not fit is not started",
    )
    ramp.add_argument("--target", choices=("engine", "baseline"), default="engine")
    _common(ramp)
    soak = sub.add_parser("soak", help="N calls for a long time: growth and drift")
    soak.add_argument("--calls", type=int, default=100)
    soak.add_argument("--rate", type=float, default=5.0, help="call arrivals per second")
    soak.add_argument("--duration", type=float, default=600.0, help="seconds of the soak")
    soak.add_argument("--cycle", type=int, default=10, help="calls replaced each cycle")
    soak.add_argument("--cycle-every", type=float, default=30.0, help="seconds between cycles")
    soak.add_argument(
        "--sample-every", type=float, default=15.0, help="seconds between process readings"
    )
    soak.set_defaults(target="engine")
    _common(soak)
    memory = sub.add_parser(
        "memory", help="caller-context latency over 1M memories", add_help=False
    )
    memory.add_argument("rest", nargs=argparse.REMAINDER)
    return parser


def _options(args: argparse.Namespace) -> object:
    from bench.session import Options

    opts = Options(mode=args.mode, target=args.target)
    for name in (
        "rate",
        "warm",
        "calls_per_actor",
        "defaults",
        "tenants",
        "webhook_url",
        "public_base_url",
        "auth_token",
        "realtime_port",
        "sim_pace",
        "sim_chunk_ms",
        "sim_first_audio_delay_ms",
        "barge_in_probability",
        "seed",
        "settle",
        "uss_samples",
        "profile",
    ):
        setattr(opts, name, getattr(args, name))
    if args.profile:
        from bench.report import RESULTS

        opts.profile_dir = (args.out or RESULTS) / "profiles" / time.strftime("%Y%m%d-%H%M%S")
    opts.to_numbers = list(args.to_number)
    opts.status_path = args.status_path or None
    if args.mode in ("calls", "soak"):
        opts.calls, opts.duration = args.calls, args.duration
    else:
        opts.steps = [int(s) for s in args.steps.split(",") if s.strip()]
        opts.window, opts.p99_limit_ms = args.window, args.p99_limit_ms
        opts.mem_per_call_mb = args.mem_per_call_mb
    return opts


def _memory(rest: list[str]) -> int:
    from bench import memory_context  # parses its own arguments from sys.argv

    saved = sys.argv
    sys.argv = ["neurosphere bench memory", *rest]
    try:
        memory_context.main()
    finally:
        sys.argv = saved
    return 0


def _soak(args: argparse.Namespace, opts: object) -> int:
    from bench import machine, report, session, soak, soak_report

    assert isinstance(opts, session.Options)
    try:
        result = soak.run_soak(
            opts, cycle=args.cycle, cycle_every=args.cycle_every, sample_every=args.sample_every
        )
    except KeyboardInterrupt:
        sys.stderr.write("interrupted; everything started has been stopped\n")
        return 130
    result["machine"] = machine.machine()
    paths = soak_report.write(result, args.out or report.RESULTS, plots=not args.no_plots)
    sys.stdout.write(report.written(soak_report.markdown(result), paths))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point for `python -m bench` and `neurosphere bench`; returns the exit code."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments[:1] == ["memory"]:  # its options are bench.memory_context's own
        return _memory(arguments[1:])
    parser = build_parser()
    args = parser.parse_args(arguments)
    if args.webhook_url and not (args.auth_token and args.to_number and args.realtime_port):
        parser.error("--webhook-url needs --auth-token, --to-number and --realtime-port")

    from bench import calls, machine, ramp, report, report_markdown, session
    from engine.logs import configure

    configure("console", level=logging.WARNING)
    opts = _options(args)
    assert isinstance(opts, session.Options)
    if args.mode == "soak":
        return _soak(args, opts)
    facts = machine.machine()
    try:
        result = calls.run_calls(opts) if args.mode == "calls" else ramp.run_ramp(opts)
    except KeyboardInterrupt:
        sys.stderr.write("interrupted; everything started has been stopped\n")
        return 130
    facts["cpu_probe_ms"].append(machine.cpu_probe_ms())
    result["machine"] = facts
    paths = report.write(result, args.out, plots=not args.no_plots)
    sys.stdout.write(report.written(report_markdown.markdown(result), paths))
    checks = report_markdown.budget_checks(result)
    return 0 if all(met is not False for *_, met in checks) else 1


if __name__ == "__main__":
    raise SystemExit(main())
