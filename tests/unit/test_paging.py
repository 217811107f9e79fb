"""Where a list page starts (admin_api.paging.after_cursor): a cursor made by the memory layer
reads back; every malformed one is an HTTP 400, never a server error."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime

import pytest
from fastapi import HTTPException

from admin_api.paging import after_cursor
from memory.admin_db import encode_cursor

AT = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
KEY = str(uuid.UUID(int=7))


def raw(data: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def test_a_cursor_reads_back_as_the_time_and_key_the_page_starts_after() -> None:
    assert after_cursor(None) is None
    assert after_cursor(encode_cursor(AT, "CA1")) == (AT, "CA1")
    assert after_cursor(encode_cursor(AT, KEY), key=uuid.UUID) == (AT, KEY)


@pytest.mark.parametrize(
    "cursor",
    [
        "not-base64-json",
        raw({"t": AT.isoformat()}),  # no key
        raw({"t": None, "k": KEY}),  # no time: not a cursor of a list by time
        raw({"t": "2026-12-01T09:30:00", "k": KEY}),  # a time without its zone
        raw({"t": AT.isoformat(), "k": "not-a-uuid"}),
    ],
)
def test_a_malformed_cursor_is_a_400(cursor: str) -> None:
    with pytest.raises(HTTPException) as raised:
        after_cursor(cursor, key=uuid.UUID)
    assert (raised.value.status_code, raised.value.detail) == (400, "malformed cursor")
