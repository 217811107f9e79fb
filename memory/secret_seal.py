"""Tenant secrets at rest, across versions and keys: sealing the Twilio auth tokens earlier
versions kept in plaintext, and re-sealing every sealed secret under a new engine secret (key
rotation). I/O: asyncpg, as the owner role, at migrate time or from the operator's command.

Sealed columns: tenants.twilio_auth_token_box, tenants.elevenlabs_key_box,
webhook_endpoints.secret_box,
notion_links.token_box and tenant_tools.secret_box (engine.secret_box, one label each). Tables
are tenant-scoped with RLS forced on the owner too, so each tenant's rows are changed inside
that tenant's context, all in one transaction: a rotation that cannot open a secret changes
nothing.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import asyncpg
import structlog

from engine.secret_box import (
    ELEVENLABS_LABEL,
    NOTION_LABEL,
    TOOL_LABEL,
    TWILIO_LABEL,
    WEBHOOK_LABEL,
    SecretBox,
    SecretBoxError,
)
from memory.embedded import DEFAULT_ROLES, Roles

log = structlog.get_logger(__name__)

_IDS = "SELECT tenant_id FROM tenants ORDER BY tenant_id"
_SCOPE = "SELECT set_config('app.tenant_id', $1, true)"
_PLAINTEXT = "SELECT twilio_auth_token FROM tenants WHERE tenant_id = $1"
_SEAL = """
UPDATE tenants SET twilio_auth_token_box = $2, twilio_auth_token = NULL WHERE tenant_id = $1
"""


@dataclass(frozen=True, slots=True)
class _Sealed:
    """One sealed column: its table, its column, the key of a row, its label."""

    table: str
    column: str
    key: str
    label: str


SEALED = (
    _Sealed("tenants", "twilio_auth_token_box", "tenant_id", TWILIO_LABEL),
    _Sealed("tenants", "elevenlabs_key_box", "tenant_id", ELEVENLABS_LABEL),
    _Sealed("webhook_endpoints", "secret_box", "endpoint_id", WEBHOOK_LABEL),
    _Sealed("notion_links", "token_box", "tenant_id", NOTION_LABEL),
    _Sealed("tenant_tools", "secret_box", "tool_id", TOOL_LABEL),
)


async def _tenant_ids(conn: asyncpg.Connection, roles: Roles) -> list[uuid.UUID]:
    await conn.execute(f"SET LOCAL ROLE {roles.lookup}")  # sees every tenant's id, nothing else
    try:
        return [r["tenant_id"] for r in await conn.fetch(_IDS)]
    finally:
        await conn.execute("RESET ROLE")


async def seal_plaintext_tokens(
    conn: asyncpg.Connection, engine_secret: str, roles: Roles = DEFAULT_ROLES
) -> int:
    """Seal every Twilio auth token still in plaintext (rows from before 0017); returns how
    many. Run in the caller's transaction, as the owner role."""
    box = SecretBox(engine_secret, TWILIO_LABEL)
    sealed = 0
    for tenant in await _tenant_ids(conn, roles):
        await conn.execute(_SCOPE, str(tenant))
        token = await conn.fetchval(_PLAINTEXT, tenant)
        if token is not None:
            await conn.execute(_SEAL, tenant, box.seal(token))
            sealed += 1
    if sealed:
        log.info("twilio_tokens_sealed", tenants=sealed)
    return sealed


@dataclass(frozen=True, slots=True)
class Resealed:
    resealed: int  # now sealed under the new key
    current: int  # were already (a rerun)
    unreadable: int  # opened with neither key: left as they are, each logged


async def reseal(
    owner_url: str, *, previous_secret: str, engine_secret: str, roles: Roles = DEFAULT_ROLES
) -> Resealed:
    """Re-seal every sealed secret from `previous_secret` to `engine_secret` (key rotation), in
    one transaction. One already under the new key is left as it is, so a rerun is safe; one
    that opens with neither key cannot be saved by a rotation: it is left, counted and logged
    (its tenant must enter it again)."""
    conn = await asyncpg.connect(owner_url, timeout=10, command_timeout=120)
    resealed = current = unreadable = 0
    try:
        async with conn.transaction():
            tenants = await _tenant_ids(conn, roles)
            for sealed in SEALED:
                old = SecretBox(previous_secret, sealed.label)
                new = SecretBox(engine_secret, sealed.label)
                # the tenant named in each statement, not only through RLS: an owner need not be
                # forced to follow its own tables' policies
                select = (
                    f"SELECT {sealed.key} AS key, {sealed.column} AS box FROM {sealed.table} "  # noqa: S608 - names from SEALED
                    f"WHERE tenant_id = $1 AND {sealed.column} IS NOT NULL"
                )
                update = (
                    f"UPDATE {sealed.table} SET {sealed.column} = $3 "  # noqa: S608
                    f"WHERE tenant_id = $1 AND {sealed.key} = $2"
                )
                for tenant in tenants:
                    await conn.execute(_SCOPE, str(tenant))
                    for row in await conn.fetch(select, tenant):
                        if new.opens(row["box"]):
                            current += 1
                            continue
                        try:
                            secret = old.open(row["box"])
                        except SecretBoxError:
                            unreadable += 1
                            log.warning(
                                "secret_unreadable", table=sealed.table, tenant_id=str(tenant)
                            )
                            continue
                        await conn.execute(update, tenant, row["key"], new.seal(secret))
                        resealed += 1
    finally:
        await conn.close()
    done = Resealed(resealed, current, unreadable)
    log.info("secrets_resealed", resealed=resealed, current=current, unreadable=unreadable)
    return done
