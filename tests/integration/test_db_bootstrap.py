"""`neurosphere db bootstrap|migrate|status` against a second, separately started Postgres with
only its plain superuser: the roles, grants, database and extension come from bootstrap, the
schema from migrate; status lists every migration with its checksum, and a migration changed
after it was applied is refused."""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from engine import cli
from engine.cli import common
from memory.embedded import database_url
from memory.migrate import load_migrations


@pytest.fixture(scope="module")
def plain_postgres() -> Iterator[str]:
    from memory.embedded import start_embedded

    server, _urls = start_embedded(
        Path(tempfile.mkdtemp(prefix="neurosphere-plain-")), cleanup="delete"
    )
    yield str(server.get_uri())
    server.cleanup()


def _run(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *argv: str
) -> tuple[int, list[str], str]:
    monkeypatch.setattr(common, "configure", lambda *args, **kwargs: None)
    code = cli.main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out.splitlines(), captured.err


async def _ledger_checksum(owner_url: str, version: int, value: str | None = None) -> str:
    conn = await asyncpg.connect(owner_url)
    try:
        if value is not None:
            await conn.execute(
                "UPDATE schema_migrations SET checksum = $2 WHERE version = $1", version, value
            )
        found: str = await conn.fetchval(
            "SELECT checksum FROM schema_migrations WHERE version = $1", version
        )
        return found
    finally:
        await conn.close()


def test_bootstrap_migrate_and_status_on_a_plain_postgres(
    plain_postgres: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    monkeypatch.setenv("NEUROSPHERE_DATA_DIR", str(tmp_path))
    code, out, _ = _run(monkeypatch, capsys, "db", "bootstrap", "--admin-url", plain_postgres)
    assert code == 0
    assert "roles created: neurosphere_owner, neurosphere_app" in out[0]
    urls = dict(line.split("=", 1) for line in out[1:3])
    assert set(urls) == {"DATABASE_URL", "NEUROSPHERE_APP_DATABASE_URL"}
    for key, value in urls.items():
        monkeypatch.setenv(key, value)

    code, out, _ = _run(monkeypatch, capsys, "db", "status")
    assert code == 0
    migrations = load_migrations()
    assert out[-1] == f"0 applied, {len(migrations)} pending, 0 changed since applied"

    code, out, _ = _run(monkeypatch, capsys, "db", "migrate")
    assert code == 0
    assert out[-1] == f"applied {len(migrations)} migration(s); the database is up to date"
    code, out, _ = _run(monkeypatch, capsys, "db", "status")
    assert code == 0
    lines = [line for line in out if line[:4].isdigit() and line[4] == " "]
    for migration, line in zip(migrations, lines, strict=True):
        assert line.startswith(f"{migration.version:04d} {migration.name}")
        assert " applied " in line
        assert line.endswith(f"sha256:{migration.checksum[:16]}")
    assert out[-1] == f"{len(migrations)} applied, 0 pending, 0 changed since applied"
    owner = urls["DATABASE_URL"]
    assert asyncio.run(_ledger_checksum(owner, 1)) == migrations[0].checksum

    # bootstrap again changes nothing and keeps the passwords
    code, out, _ = _run(monkeypatch, capsys, "db", "bootstrap", "--admin-url", plain_postgres)
    assert code == 0
    assert "roles created: none" in out[0]

    # the app role can work (the tenant list reads through it), and owns nothing
    code, out, _ = _run(monkeypatch, capsys, "tenant", "list")
    assert (code, out[-1]) == (0, "0 tenant(s)")

    # an applied migration whose file changed: status says so, migrate refuses
    asyncio.run(_ledger_checksum(owner, 2, "0" * 64))
    code, out, err = _run(monkeypatch, capsys, "db", "status")
    assert code == 1
    assert next(line for line in out if " changed " in line).startswith("0002 ")
    assert "error: an applied migration was changed" in err
    code, out, err = _run(monkeypatch, capsys, "db", "migrate")
    assert code == 1
    assert err.startswith(f"error: applied migration(s) changed since: {migrations[1].label}")


def test_bootstrap_names_an_unreachable_server(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = _run(
        monkeypatch, capsys, "db", "bootstrap", "--admin-url", "postgresql://a:b@127.0.0.1:1/x"
    )
    assert code == 2
    assert err.startswith("error: bootstrap failed: ")
    assert "Traceback" not in err


@pytest.fixture(scope="module")
def another_plain_postgres() -> Iterator[str]:
    from memory.embedded import start_embedded

    server, _urls = start_embedded(
        Path(tempfile.mkdtemp(prefix="neurosphere-plain-")), cleanup="delete"
    )
    yield str(server.get_uri())
    server.cleanup()


async def _roles_and_owners(admin_url: str) -> tuple[set[str], set[str]]:
    conn = await asyncpg.connect(admin_url)
    try:
        roles = {r["rolname"] for r in await conn.fetch("SELECT rolname FROM pg_roles")}
    finally:
        await conn.close()
    conn = await asyncpg.connect(database_url(admin_url))
    try:
        owners = {
            r["owner"]
            for r in await conn.fetch(
                "SELECT pg_get_userbyid(proowner) AS owner FROM pg_proc"
                " WHERE pronamespace = 'public'::regnamespace AND prosecdef"
            )
        }
    finally:
        await conn.close()
    return roles, owners


def test_role_names_are_configurable_for_a_managed_database(
    another_plain_postgres: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    monkeypatch.setenv("NEUROSPHERE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("NEUROSPHERE_DB_ROLE_PREFIX", "acme_voice")
    code, out, _ = _run(
        monkeypatch, capsys, "db", "bootstrap", "--admin-url", another_plain_postgres
    )
    assert code == 0
    assert "roles created: acme_voice_owner, acme_voice_app, acme_voice_lookup" in out[0]
    urls = dict(line.split("=", 1) for line in out[1:3])
    assert urls["DATABASE_URL"].split("://", 1)[1].startswith("acme_voice_owner:")
    assert urls["NEUROSPHERE_APP_DATABASE_URL"].split("://", 1)[1].startswith("acme_voice_app:")
    for key, value in urls.items():
        monkeypatch.setenv(key, value)
    code, out, _ = _run(monkeypatch, capsys, "db", "migrate")
    assert code == 0
    code, out, _ = _run(monkeypatch, capsys, "tenant", "list")
    assert (code, out[-1]) == (0, "0 tenant(s)")
    roles, owners = asyncio.run(_roles_and_owners(another_plain_postgres))
    assert {"acme_voice_owner", "acme_voice_app", "acme_voice_lookup", "acme_voice_jobs"} <= roles
    assert not any(role.startswith("neurosphere_") for role in roles)
    assert owners == {"acme_voice_lookup", "acme_voice_jobs"}


def test_a_bad_role_prefix_is_one_error_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("NEUROSPHERE_DB_ROLE_PREFIX", "Acme-Voice; DROP")
    code, _, err = _run(monkeypatch, capsys, "db", "status")
    assert code == 2
    (line,) = err.strip().splitlines()
    assert line.startswith("error: NEUROSPHERE_DB_ROLE_PREFIX")
