"""`neurosphere admin create|list` and `tenant list`: the only way to the first platform admin
(there are no default accounts) and what an operator sees. Runs the real CLI against the
session's Postgres, with the password on stdin."""

from __future__ import annotations

import asyncio
import io
import secrets

import pytest

from admin_api.passwords import Passwords
from engine import cli
from engine.cli import common
from memory import users
from memory.db import create_pool
from memory.users import Credentials
from tests.conftest import PgUrls
from tests.integration.admin_harness import new_email

PASSWORD = "the very first admin passphrase"


async def _credentials(app_url: str, email: str) -> Credentials | None:
    pool = await create_pool(app_url, min_size=1, max_size=1)
    try:
        ref = await users.find_login(pool, email)
        return await users.credentials(pool, ref) if ref is not None else None
    finally:
        await pool.close()


def _cli(monkeypatch: pytest.MonkeyPatch, pg_urls: PgUrls, *argv: str) -> int:
    monkeypatch.setenv("DATABASE_URL", pg_urls.owner)
    monkeypatch.setenv("NEUROSPHERE_APP_DATABASE_URL", pg_urls.app)
    # The CLI points structlog at this test's captured stderr; keep the session's logging.
    monkeypatch.setattr(common, "configure", lambda *args, **kwargs: None)
    return cli.main(list(argv))


def _run(monkeypatch: pytest.MonkeyPatch, pg_urls: PgUrls, email: str, stdin: str) -> int:
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    return _cli(monkeypatch, pg_urls, "admin", "create", "--email", email)


def test_admin_create_makes_a_platform_admin_from_stdin(
    monkeypatch: pytest.MonkeyPatch, pg_urls: PgUrls, capsys: pytest.CaptureFixture[str]
) -> None:
    email = new_email("first")
    assert _run(monkeypatch, pg_urls, email.upper(), PASSWORD + "\n") == 0
    out = capsys.readouterr().out
    assert f"platform admin {email} created" in out
    assert PASSWORD not in out
    creds = asyncio.run(_credentials(pg_urls.app, email))
    assert creds is not None
    assert creds.user.role == "platform_admin"
    assert creds.user.tenant_id is None
    assert creds.password_hash.startswith("$argon2id$")
    assert asyncio.run(Passwords().verify(creds.password_hash, PASSWORD))
    # The same email again is refused.
    assert _run(monkeypatch, pg_urls, email, PASSWORD + "\n") == 2
    assert "error: an account with this email already exists" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("email", "password", "message"),
    [
        ("not-an-email", PASSWORD, "is not an email address"),
        (None, "short", "at least 12"),
        (None, "password123456", "too common"),
        (None, "", "at least 12"),
    ],
)
def test_admin_create_refuses_bad_input(
    monkeypatch: pytest.MonkeyPatch,
    pg_urls: PgUrls,
    capsys: pytest.CaptureFixture[str],
    email: str | None,
    password: str,
    message: str,
) -> None:
    address = email or new_email("refused")
    assert _run(monkeypatch, pg_urls, address, password + "\n") == 2
    assert message in capsys.readouterr().err
    if email is None:
        assert asyncio.run(_credentials(pg_urls.app, address)) is None


def test_admin_list_shows_platform_admins(
    monkeypatch: pytest.MonkeyPatch, pg_urls: PgUrls, capsys: pytest.CaptureFixture[str]
) -> None:
    email = new_email("listed")
    assert _run(monkeypatch, pg_urls, email, PASSWORD + "\n") == 0
    capsys.readouterr()
    assert _cli(monkeypatch, pg_urls, "admin", "list") == 0
    lines = capsys.readouterr().out.splitlines()
    (mine,) = [line for line in lines if f" {email} " in line]
    assert " active " in mine
    assert "last login -" in mine
    assert lines[-1] == f"{len(lines) - 1} platform admin(s)"


def test_tenant_add_then_list(
    monkeypatch: pytest.MonkeyPatch, pg_urls: PgUrls, capsys: pytest.CaptureFixture[str]
) -> None:
    name = new_email("agency").split("@")[0]
    number = f"+1555{secrets.randbelow(10**7):07d}"
    args = ("tenant", "add", "--name", name, "--number", number, "--max-calls", "3")
    assert _cli(monkeypatch, pg_urls, *args) == 0
    tenant_id = capsys.readouterr().out.split()[1]
    assert _cli(monkeypatch, pg_urls, "tenant", "list") == 0
    lines = capsys.readouterr().out.splitlines()
    (mine,) = [line for line in lines if line.startswith(tenant_id)]
    assert mine.endswith(f"  {name}")
    assert " active " in mine
    assert "max 3 " in mine
    assert number in mine
    assert lines[-1] == f"{len(lines) - 1} tenant(s)"
