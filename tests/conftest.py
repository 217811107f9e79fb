"""Test-wide fixtures: a clean environment (a developer's .env never leaks into tests) and
one real embedded Postgres per session for the tests that need a database."""

from __future__ import annotations

import asyncio
import os
import secrets
import tempfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import hypothesis  # noqa: F401  # imported early: CPython 3.11.7 can fail to compile it late (gh-106905)
import pytest

_LEAKY_PREFIXES = (
    "NEUROSPHERE_",
    "OPENAI_",
    "TWILIO_",
    "ELEVENLABS_",
    "PUBLIC_BASE_URL",
    "MEDIA_PUBLIC_URL",
)


@pytest.fixture(autouse=True, scope="session")
def _clean_environment() -> None:
    for key in list(os.environ):
        if key.startswith(_LEAKY_PREFIXES) or key in ("DATABASE_URL", "RAY_ADDRESS"):
            del os.environ[key]


# --- real Postgres, started once per session (integration, fault and cluster tests) -------------


@dataclass(frozen=True)
class PgUrls:
    superuser: str
    owner: str
    app: str


@pytest.fixture(scope="session")
def pg_urls() -> Iterator[PgUrls]:
    """A real embedded Postgres 18 with pgvector, bootstrapped and migrated."""
    from memory.embedded import bootstrap, start_embedded
    from memory.migrate import migrate

    root = Path(tempfile.mkdtemp(prefix="neurosphere-test-"))
    server, urls = start_embedded(root, cleanup="delete")

    async def setup() -> None:
        await bootstrap(server.get_uri())
        await migrate(urls.owner)

    asyncio.run(setup())
    yield PgUrls(superuser=server.get_uri(), owner=urls.owner, app=urls.app)
    server.cleanup()


@pytest.fixture(scope="session")
async def app_pool(pg_urls: PgUrls) -> AsyncIterator[asyncpg.Pool]:
    from memory.db import create_pool

    pool = await create_pool(pg_urls.app, min_size=1, max_size=4)
    yield pool
    await pool.close()


@pytest.fixture(scope="session")
def jwt_secret() -> str:
    return secrets.token_urlsafe(48)
