"""Fixtures shared by the integration tests (the session-wide Postgres ones are in tests/)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from tests.conftest import PgUrls
from tests.integration.admin_harness import AdminHarness, admin_harness


@pytest.fixture
async def h(
    pg_urls: PgUrls, app_pool: asyncpg.Pool, jwt_secret: str, tmp_path: Path
) -> AsyncIterator[AdminHarness]:
    """The admin API over real Postgres, its in-process tenant actors and a Twilio REST fake."""
    async with admin_harness(pg_urls.app, jwt_secret, app_pool, tmp_path) as harness:
        yield harness
