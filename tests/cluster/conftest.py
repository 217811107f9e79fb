"""One real local Ray with Serve for the whole session, running the engine exactly as
`neurosphere serve` does (offline realtime simulator, the session's Postgres)."""

from __future__ import annotations

import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.cli.runtime import Engine, start_engine
from engine.settings import Settings
from tests.cluster.ports import SESSION_ENGINE_MEDIA, env_range
from tests.conftest import PgUrls


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="session")
def ray_engine(pg_urls: PgUrls) -> Iterator[Engine]:
    port = _free_port()
    settings = Settings.model_validate(
        {
            "NEUROSPHERE_DATA_DIR": Path(tempfile.mkdtemp(prefix="neurosphere-cluster-")),
            "DATABASE_URL": pg_urls.owner,
            "NEUROSPHERE_APP_DATABASE_URL": pg_urls.app,
            "NEUROSPHERE_HTTP_PORT": port,
            "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
            "NEUROSPHERE_MEDIA_PORTS": env_range(SESSION_ENGINE_MEDIA),
            "NEUROSPHERE_WARM_CALLS": 2,
            "NEUROSPHERE_CALLS_PER_ACTOR": 1,  # the tests kill and count actors call by call
            "NEUROSPHERE_MEMORY_ACTORS": 1,
            "NEUROSPHERE_CALL_SLOTS": 20,
        }
    )
    engine = start_engine(settings, dashboard=True)  # as `serve` runs: the state API needs it
    yield engine
    engine.stop()
