"""Tenant-scoped JWTs (pyjwt): minted by tenant actors, verified by memory actors. Pure.

Pinned algorithm (HS256), required claims exp, iat, iss, aud, sub, tenant_id, and a `kid` so
keys can rotate: verification accepts any key in the key ring, signing uses the current one.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

import jwt

ALGORITHM = "HS256"
ISSUER = "neurosphere"
MEMORY_AUDIENCE = "memory"
ADMIN_AUDIENCE = "admin"
_REQUIRED = ["exp", "iat", "iss", "aud", "sub", "tenant_id"]


class TokenError(ValueError):
    """A token that must be refused."""


@dataclass(frozen=True, slots=True)
class KeyRing:
    """Signing keys by id; `current` signs, all verify."""

    keys: tuple[tuple[str, str], ...]
    current: str

    @classmethod
    def single(cls, secret: str, kid: str = "k1") -> KeyRing:
        return cls(keys=((kid, secret),), current=kid)

    def key(self, kid: str) -> str:
        for k, secret in self.keys:
            if k == kid:
                return secret
        raise TokenError("unknown key id")


@dataclass(frozen=True, slots=True)
class Claims:
    tenant_id: str
    subject: str
    audience: str
    expires_at: int


def mint(
    ring: KeyRing,
    *,
    tenant_id: str,
    subject: str,
    audience: str,
    ttl_s: int,
    now: float | None = None,
) -> str:
    issued = int(now if now is not None else time.time())
    payload = {
        "iss": ISSUER,
        "aud": audience,
        "sub": subject,
        "tenant_id": tenant_id,
        "iat": issued,
        "exp": issued + ttl_s,
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(
        payload, ring.key(ring.current), algorithm=ALGORITHM, headers={"kid": ring.current}
    )


def verify(ring: KeyRing, token: str, *, audience: str) -> Claims:
    """Verify signature, algorithm, audience, issuer, expiry and required claims."""
    try:
        header = jwt.get_unverified_header(token)
        kid = header.get("kid")
        if not isinstance(kid, str):
            raise TokenError("token has no key id")
        payload = jwt.decode(
            token,
            ring.key(kid),
            algorithms=[ALGORITHM],
            audience=audience,
            issuer=ISSUER,
            options={"require": _REQUIRED},
            leeway=5,
        )
    except jwt.PyJWTError as exc:
        raise TokenError(f"invalid token: {exc}") from None
    tenant = payload.get("tenant_id")
    if not isinstance(tenant, str):
        raise TokenError("tenant_id must be a string")
    try:
        tenant = str(uuid.UUID(tenant))
    except ValueError:
        raise TokenError("tenant_id is not a UUID") from None
    return Claims(
        tenant_id=tenant,
        subject=str(payload["sub"]),
        audience=audience,
        expires_at=int(payload["exp"]),
    )
