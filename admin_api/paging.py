"""Where a page of a list endpoint starts: its `cursor` (memory.admin_db's encoding of the last
row's time and key) read back, a malformed one answered with HTTP 400. Pure.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from fastapi import HTTPException

from memory.admin_db import BadCursor, decode_cursor


def after_cursor(
    cursor: str | None, *, key: Callable[[str], object] = str
) -> tuple[datetime, str] | None:
    """The (time, key) the page starts after, or None for the first page. `key` checks the
    row key (`uuid.UUID` for a uuid key) and raises ValueError for a bad one."""
    if cursor is None:
        return None
    try:
        at, value = decode_cursor(cursor)
        key(value)
    except (BadCursor, ValueError):
        raise HTTPException(400, "malformed cursor") from None
    if at is None:
        raise HTTPException(400, "malformed cursor")
    return at, value
