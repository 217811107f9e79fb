"""What the data layer raises when Postgres says no, so no caller above memory/ has to know
asyncpg's exceptions. Pure, no I/O.

- `Unavailable`: the database cannot be reached, is overloaded or too slow - a stopped server
  (a missing Unix socket is `FileNotFoundError`, a closed port `ConnectionRefusedError`), a
  dropped link, no free connection in time, a statement past its timeout. Worth retrying.
- `Conflict`: the change collides with existing data (a reference; `Duplicate`: a unique key).
- `Rejected`: the database refused a value (a CHECK, malformed data).

`translated` turns an asyncpg (or socket) exception into one of these; memory.db applies it at
the edge of every connection and transaction it hands out.
"""

from __future__ import annotations

import asyncpg

from engine.errors import RetryableError


class Unavailable(RetryableError):
    """The database is unreachable, overloaded or too slow; try again shortly."""

    def __init__(self, message: str) -> None:
        super().__init__(message, retryable=True)


class Conflict(Exception):
    """The change conflicts with existing data (a unique key or a reference)."""


class Duplicate(Conflict):
    """A unique key is taken (an email, a phone number, a title)."""


class Rejected(ValueError):
    """The database refused a value (a check constraint or malformed data)."""


_UNAVAILABLE = (
    OSError,  # FileNotFoundError, ConnectionRefusedError, ConnectionResetError, ...
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.TooManyConnectionsError,
    asyncpg.QueryCanceledError,
    asyncpg.CannotConnectNowError,
    asyncpg.AdminShutdownError,
)


# What a caller waiting on the database catches when it is down, failing over or unreachable:
# the data layer's Unavailable, or its own wait for an answer that ran out of time.
DATABASE_DOWN: tuple[type[BaseException], ...] = (Unavailable, TimeoutError)


def translated(exc: BaseException) -> Exception | None:
    """The data layer's own error for `exc`, or None when it is not a database failure."""
    if isinstance(exc, asyncpg.UniqueViolationError):
        return Duplicate("conflicts with existing data")
    if isinstance(exc, asyncpg.ForeignKeyViolationError):
        return Conflict("conflicts with existing data")
    if isinstance(exc, asyncpg.IntegrityConstraintViolationError | asyncpg.DataError):
        return Rejected("value not accepted by the database")
    if isinstance(exc, _UNAVAILABLE):
        return Unavailable(f"database unavailable: {type(exc).__name__}")
    return None
