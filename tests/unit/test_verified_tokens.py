"""The memory actor's verified tokens: a token string is verified once and then honoured until
its expiry, never past it; refused tokens are never kept; the cache stays bounded."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest

from actors.verified_tokens import VerifiedTokens
from engine import tokens

SECRET = "s" * 40
TENANT = "3f2b8c1e-9a4d-4e6f-8b7a-0c1d2e3f4a5b"


def mint(*, secret: str = SECRET, ttl_s: int = 300, tenant: str = TENANT) -> str:
    return tokens.mint(
        tokens.KeyRing.single(secret),
        tenant_id=tenant,
        subject="call:CA1",
        audience=tokens.MEMORY_AUDIENCE,
        ttl_s=ttl_s,
    )


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def verifications(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The tokens given to the full verification, in order."""
    seen: list[str] = []
    real = tokens.verify

    def counted(ring: tokens.KeyRing, token: str, **kwargs: Any) -> tokens.Claims:
        seen.append(token)
        return real(ring, token, **kwargs)

    monkeypatch.setattr(tokens, "verify", counted)
    return seen


def test_a_token_is_verified_once_until_it_expires(verifications: list[str]) -> None:
    clock = Clock()
    cache = VerifiedTokens(SECRET, clock=clock)
    token = mint(ttl_s=300)
    for _ in range(50):
        assert cache.tenant(token) == TENANT
    assert verifications == [token]
    clock.now += 301  # past its exp: verified again (the real clock still accepts it)
    assert cache.tenant(token) == TENANT
    assert verifications == [token, token]


def test_refused_tokens_are_refused_every_time(verifications: list[str]) -> None:
    cache = VerifiedTokens(SECRET)
    forged = mint(secret="o" * 40)
    expired = mint(ttl_s=-60)
    for bad in (forged, expired, forged, expired):
        with pytest.raises(tokens.TokenError):
            cache.tenant(bad)
    assert len(verifications) == 4


def test_the_cache_is_bounded(verifications: list[str]) -> None:
    cache = VerifiedTokens(SECRET, max_tokens=3)
    many = [mint(tenant=str(uuid.uuid4())) for _ in range(7)]
    for token in many:
        cache.tenant(token)
    assert len(cache._claims) <= 3
    assert (
        cache.tenant(many[-1])
        == tokens.verify(
            tokens.KeyRing.single(SECRET), many[-1], audience=tokens.MEMORY_AUDIENCE
        ).tenant_id
    )
    assert verifications.count(many[-1]) == 2  # once by the cache, once by the check above
