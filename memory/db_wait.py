"""Waiting, at start, for an external Postgres that is not up yet. I/O: asyncpg.

A container started next to its database (deploy/compose.yaml) can come up before Postgres
accepts connections: while its first start runs the init scripts it listens on no TCP port,
then answers "the database system is starting up". The engine tries again with a doubling,
logged delay up to a bound instead of failing at once. Anything else (a wrong password, a
database that does not exist) is not going to change by waiting and is raised at once.
"""

from __future__ import annotations

import asyncio
import time
from urllib.parse import parse_qs, urlsplit

import asyncpg
import structlog

log = structlog.get_logger(__name__)

START_TIMEOUT_S = 120.0
FIRST_DELAY_S = 0.5
MAX_DELAY_S = 5.0
# nothing listening yet, a name not resolving yet (a container network), or a server that is
# still starting or recovering
_NOT_YET = (OSError, TimeoutError, asyncpg.CannotConnectNowError)


class DatabaseUnreachable(RuntimeError):
    """Postgres did not accept a connection within the bound."""


def _where(url: str) -> str:
    """host:port (or socket directory) of a database URL, never its password."""
    parts = urlsplit(url)
    host = parts.hostname or parse_qs(parts.query).get("host", ["localhost"])[0]
    return f"{host}:{parts.port or 5432}"


async def wait_for_database(
    url: str,
    *,
    timeout: float | None = None,
    first_delay: float = FIRST_DELAY_S,
    max_delay: float = MAX_DELAY_S,
) -> int:
    """Return once Postgres at `url` accepts a connection; the number of attempts it took.
    `timeout`: START_TIMEOUT_S unless given."""
    timeout = START_TIMEOUT_S if timeout is None else timeout
    began = time.monotonic()
    deadline = began + timeout
    delay = first_delay
    attempt = 0
    while True:
        attempt += 1
        remaining = deadline - time.monotonic()
        try:
            conn = await asyncpg.connect(url, timeout=max(0.1, min(10.0, remaining)))
        except _NOT_YET as exc:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise DatabaseUnreachable(
                    f"Postgres at {_where(url)} accepted no connection within {timeout:g} s "
                    f"({attempt} attempts); last error: {exc!r}"
                ) from exc
            pause = min(delay, remaining)
            log.warning(
                "database_not_ready",
                where=_where(url),
                attempt=attempt,
                retry_in_s=round(pause, 2),
                error=repr(exc),
            )
            await asyncio.sleep(pause)
            delay = min(delay * 2, max_delay)
            continue
        await conn.close()
        if attempt > 1:
            log.info(
                "database_ready",
                where=_where(url),
                attempts=attempt,
                waited_s=round(time.monotonic() - began, 2),
            )
        return attempt
