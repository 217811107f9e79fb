"""The `neurosphere` command line: run NeuroSphere Voice, an AI phone agent for insurance
agencies, and look after it (tenants, admin accounts, the database, simulated calls).

  neurosphere demo                       start everything offline, place one call, print it
  neurosphere serve [--host H --port P]  run the engine for real Twilio traffic
  neurosphere tenant add|list            provision agencies and their numbers, list them
  neurosphere admin create|list          platform admin accounts of the admin API
  neurosphere call --to +1...            a simulated call against a running engine
  neurosphere db bootstrap|migrate|status|reseal|purge   the database
  neurosphere pool drain                 replace a running engine's call actors (an upgrade)
  neurosphere sim realtime               the offline realtime simulator alone
  neurosphere bench ...                  benchmarks (the `bench` extra)

Configuration is the environment (README.md lists every variable); every mistake in it is one
`error:` line naming the variable, printed before anything starts. Each command lives in a
module of its own here.
"""

from __future__ import annotations

import argparse
import importlib.metadata

from engine.cli import admin, call, common, db, demo, pool, serve, tenant, tools
from engine.settings import ConfigError
from memory.db_wait import DatabaseUnreachable

DESCRIPTION = (
    "NeuroSphere Voice: AI phone agents for insurance agencies, on Ray. Run the engine "
    "(serve, demo) and look after it (tenant, admin, db, call). Configuration is read from "
    "the environment; see README.md."
)


def _version() -> str:
    try:
        return importlib.metadata.version("neurosphere-voice")
    except importlib.metadata.PackageNotFoundError:
        return "unknown (not installed)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="neurosphere", description=DESCRIPTION)
    parser.add_argument(
        "--version", action="version", version=f"neurosphere {_version()}", help="print the version"
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in (demo, serve, tenant, admin, call, db, pool, tools):
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = args.func(args)
    except ConfigError as exc:
        for problem in exc.problems:
            common.err(f"error: {problem}")
        return 2
    except DatabaseUnreachable as exc:
        common.err(f"error: {exc}")
        return 2
    return code
