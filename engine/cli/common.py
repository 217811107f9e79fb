"""What every command shares: output lines, argument types, the settings (checked before
anything starts) and a short-lived app-role pool. I/O: stdout/stderr and the database."""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg

from engine.logs import configure
from engine.settings import Settings, load_settings

E164 = re.compile(r"^\+[1-9]\d{6,14}$")
DEMO_NUMBER = "+15550109999"
DEMO_CALLER = "+15550100001"


def out(text: str = "") -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def err(text: str) -> None:
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


def e164(value: str) -> str:
    if not E164.match(value):
        raise argparse.ArgumentTypeError(f"{value!r} is not an E.164 number like +15551234567")
    return value


def settings() -> Settings:
    """The environment, checked as a whole (ConfigError lists every mistake; `main` prints
    them), then this process's logging configured from it."""
    loaded = load_settings()
    configure(loaded.log_format, redact=loaded.env == "production")
    return loaded


@asynccontextmanager
async def app_pool(loaded: Settings) -> AsyncIterator[asyncpg.Pool]:
    """A small app-role pool on the database (starting or attaching to the embedded one,
    migrated), closed on exit."""
    from engine.cli.runtime import prepare_database
    from memory.db import create_pool

    database = await prepare_database(loaded)
    pool = await create_pool(database.app_url, min_size=1, max_size=2)
    try:
        yield pool
    finally:
        await pool.close()
