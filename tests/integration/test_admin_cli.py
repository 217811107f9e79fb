"""`neurosphere admin create`: the only way to the first platform admin (there are no default
accounts). Runs the real CLI against the session's Postgres, with the password on stdin."""

from __future__ import annotations

import asyncio
import io

import pytest

from admin_api.passwords import Passwords
from engine import cli
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


def _run(monkeypatch: pytest.MonkeyPatch, pg_urls: PgUrls, email: str, stdin: str) -> int:
    monkeypatch.setenv("DATABASE_URL", pg_urls.owner)
    monkeypatch.setenv("NEUROSPHERE_APP_DATABASE_URL", pg_urls.app)
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    # The CLI points structlog at this test's captured stderr; keep the session's logging.
    monkeypatch.setattr(cli, "configure", lambda *args, **kwargs: None)
    return cli.main(["admin", "create", "--email", email])


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
    assert "already exists" in capsys.readouterr().out


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
    assert message in capsys.readouterr().out
    if email is None:
        assert asyncio.run(_credentials(pg_urls.app, address)) is None
