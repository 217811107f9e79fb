"""Tenant-scoped JWTs (pyjwt): minted by tenant actors, verified by memory actors. Pure.

Pinned algorithm (HS256), required claims exp, iat, iss, aud, sub, tenant_id, and a `kid` so
keys can rotate: verification accepts any key in the key ring, signing uses the current one.
`sign` and `decode` are the one place those rules live; call-memory tokens (`mint`, `verify`,
audience `memory`) and admin access tokens (admin_api.auth, audience `admin`) both use them.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import jwt

ALGORITHM = "HS256"
ISSUER = "neurosphere"
MEMORY_AUDIENCE = "memory"
ADMIN_AUDIENCE = "admin"
REQUIRED_CLAIMS = ("exp", "iat", "iss", "aud", "sub", "tenant_id")


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


def sign(ring: KeyRing, claims: dict[str, Any]) -> str:
    """`claims` signed with the ring's current key, its id in the `kid` header."""
    return jwt.encode(
        claims, ring.key(ring.current), algorithm=ALGORITHM, headers={"kid": ring.current}
    )


def decode(
    ring: KeyRing, token: str, *, audience: str, required: Sequence[str] = REQUIRED_CLAIMS
) -> dict[str, Any]:
    """The claims of a token whose key id, signature, algorithm, audience, issuer and expiry
    check out and which carries every claim in `required`; TokenError otherwise."""
    try:
        header = jwt.get_unverified_header(token)
        kid = header.get("kid")
        if not isinstance(kid, str):
            raise TokenError("token has no key id")
        payload: dict[str, Any] = jwt.decode(
            token,
            ring.key(kid),
            algorithms=[ALGORITHM],
            audience=audience,
            issuer=ISSUER,
            options={"require": list(required)},
            leeway=5,
        )
    except jwt.PyJWTError as exc:
        raise TokenError(f"invalid token: {exc}") from None
    return payload


def uuid_claim(payload: dict[str, Any], name: str) -> str:
    """Claim `name` as a canonical UUID string; TokenError when it is not one."""
    value = payload.get(name)
    if not isinstance(value, str):
        raise TokenError(f"{name} must be a string")
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise TokenError(f"{name} is not a UUID") from None


def mint_claims(
    ring: KeyRing,
    *,
    subject: str,
    audience: str,
    ttl_s: int,
    now: float | None = None,
    **claims: Any,
) -> str:
    """A token with the standard claims (iss, aud, sub, iat, exp, a fresh jti) and `claims`."""
    issued = int(now if now is not None else time.time())
    standard = {"iss": ISSUER, "aud": audience, "sub": subject, "iat": issued}
    return sign(ring, {**standard, **claims, "exp": issued + ttl_s, "jti": uuid.uuid4().hex})


def mint(
    ring: KeyRing,
    *,
    tenant_id: str,
    subject: str,
    audience: str,
    ttl_s: int,
    now: float | None = None,
) -> str:
    return mint_claims(
        ring, subject=subject, audience=audience, ttl_s=ttl_s, now=now, tenant_id=tenant_id
    )


def verify(ring: KeyRing, token: str, *, audience: str) -> Claims:
    """Verify signature, algorithm, audience, issuer, expiry and required claims."""
    payload = decode(ring, token, audience=audience)
    return Claims(
        tenant_id=uuid_claim(payload, "tenant_id"),
        subject=str(payload["sub"]),
        audience=audience,
        expires_at=int(payload["exp"]),
    )
