"""An engine started next to its Postgres (deploy/compose.yaml) may come up first: start-up
waits for the database with a bounded, logged backoff, and gives up with a clear error. A
Postgres that answers but refuses (a wrong password) is not waited on.

"Comes up later" is the session's real Postgres behind a TCP relay on a port where nothing
listens until the relay starts."""

from __future__ import annotations

import asyncio
import socket
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit, urlunsplit

import asyncpg
import pytest
from structlog.testing import capture_logs

from engine import cli
from engine.cli.runtime import prepare_database
from engine.settings import Settings
from memory import db_wait
from tests.conftest import PgUrls


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _on_port(url: str, port: int, database: str | None = None) -> str:
    """The role and database of the session's (socket-only) Postgres URL, over TCP at `port`."""
    parts = urlsplit(url)
    path = parts.path if database is None else f"/{database}"
    return urlunsplit(("postgresql", f"{parts.username}@127.0.0.1:{port}", path, "", ""))


def _socket(url: str) -> str:
    return f"{parse_qs(urlsplit(url).query)['host'][0]}/.s.PGSQL.5432"


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        writer.close()


async def _relay_later(target: str, port: int, delay: float) -> asyncio.Server:
    """From `delay` s on, relay connections to `port` to the Postgres of URL `target`."""

    async def relay(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_unix_connection(_socket(target))
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))

    await asyncio.sleep(delay)
    return await asyncio.start_server(relay, "127.0.0.1", port)


async def test_start_up_waits_for_a_postgres_that_comes_up_later(
    pg_urls: PgUrls, monkeypatch: pytest.MonkeyPatch, jwt_secret: str, tmp_path: Path
) -> None:
    monkeypatch.setattr(db_wait, "START_TIMEOUT_S", 10.0)
    port = _free_port()
    settings = Settings.model_validate(
        {
            "DATABASE_URL": _on_port(pg_urls.owner, port),
            "NEUROSPHERE_APP_DATABASE_URL": _on_port(pg_urls.app, port),
            "NEUROSPHERE_JWT_SECRET": jwt_secret,
            "NEUROSPHERE_DATA_DIR": tmp_path,
        }
    )
    began = time.monotonic()
    relay = asyncio.create_task(_relay_later(pg_urls.owner, port, 0.8))
    try:
        with capture_logs() as logs:
            database = await prepare_database(settings)
    finally:
        (await relay).close()
    assert time.monotonic() - began >= 0.8
    assert database.owner_url == settings.database_url.get_secret_value()  # type: ignore[union-attr]
    waits = [e for e in logs if e["event"] == "database_not_ready"]
    assert waits, logs
    assert [e["retry_in_s"] for e in waits][:2] == [0.5, 1.0][: len(waits)]  # doubling
    assert all(e["where"] == f"127.0.0.1:{port}" for e in waits)
    assert not any("postgresql://" in str(e) for e in logs)  # a URL can hold a password
    ready = [e for e in logs if e["event"] == "database_ready"]
    assert ready, logs
    assert ready[0]["attempts"] == len(waits) + 1


async def test_no_postgres_within_the_bound_is_a_clear_error(pg_urls: PgUrls) -> None:
    port = _free_port()  # nothing ever listens here
    url = _on_port(pg_urls.owner, port)
    began = time.monotonic()
    with pytest.raises(db_wait.DatabaseUnreachable) as raised:
        await db_wait.wait_for_database(url, timeout=1.2, first_delay=0.2)
    elapsed = time.monotonic() - began
    assert 1.2 <= elapsed < 2.5, elapsed
    message = str(raised.value)
    assert f"127.0.0.1:{port}" in message, message
    assert "within 1.2 s" in message, message
    assert "postgresql://" not in message


async def test_a_postgres_that_refuses_is_not_waited_on(pg_urls: PgUrls) -> None:
    port = _free_port()
    relay = await _relay_later(pg_urls.owner, port, 0)
    try:
        began = time.monotonic()
        with pytest.raises(asyncpg.InvalidCatalogNameError):
            await db_wait.wait_for_database(_on_port(pg_urls.owner, port, "no_such_db"), timeout=30)
        assert time.monotonic() - began < 5
    finally:
        relay.close()


def test_the_command_line_names_an_unreachable_database(
    pg_urls: PgUrls,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    port = _free_port()
    monkeypatch.setattr(db_wait, "START_TIMEOUT_S", 0.6)
    monkeypatch.setenv("NEUROSPHERE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("DATABASE_URL", _on_port(pg_urls.owner, port))
    monkeypatch.setenv("NEUROSPHERE_APP_DATABASE_URL", _on_port(pg_urls.app, port))
    code = cli.main(["tenant", "list"])
    err = capsys.readouterr().err
    assert code == 2
    assert f"error: Postgres at 127.0.0.1:{port} accepted no connection within 0.6 s" in err, err
    assert "Traceback" not in err
