"""Tenant-scoped JWTs: a round trip, every refusal, and key rotation."""

from __future__ import annotations

import base64
import json
import time
import uuid

import jwt
import pytest

from engine import tokens

SECRET = "s" * 40
OTHER_SECRET = "o" * 40
TENANT = "3f2b8c1e-9a4d-4e6f-8b7a-0c1d2e3f4a5b"
RING = tokens.KeyRing.single(SECRET)


def mint(
    ring: tokens.KeyRing = RING,
    *,
    tenant_id: str = TENANT,
    audience: str = tokens.MEMORY_AUDIENCE,
    ttl_s: int = 300,
    now: float | None = None,
) -> str:
    return tokens.mint(
        ring, tenant_id=tenant_id, subject="call:CA1", audience=audience, ttl_s=ttl_s, now=now
    )


def claims(**overrides: object) -> dict[str, object]:
    now = int(time.time())
    payload: dict[str, object] = {
        "iss": tokens.ISSUER,
        "aud": tokens.MEMORY_AUDIENCE,
        "sub": "call:CA1",
        "tenant_id": TENANT,
        "iat": now,
        "exp": now + 300,
    }
    payload.update(overrides)
    return {k: v for k, v in payload.items() if v is not None}


def signed(payload: dict[str, object], *, kid: str | None = "k1", key: str = SECRET) -> str:
    headers = {"kid": kid} if kid is not None else None
    return jwt.encode(payload, key, algorithm="HS256", headers=headers)


def b64url(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def refused(token: str, match: str, audience: str = tokens.MEMORY_AUDIENCE) -> None:
    with pytest.raises(tokens.TokenError, match=match):
        tokens.verify(RING, token, audience=audience)


def test_round_trip() -> None:
    now = time.time()
    token = mint(now=now)
    assert jwt.get_unverified_header(token) == {"alg": "HS256", "typ": "JWT", "kid": "k1"}
    assert tokens.verify(RING, token, audience=tokens.MEMORY_AUDIENCE) == tokens.Claims(
        tenant_id=TENANT, subject="call:CA1", audience="memory", expires_at=int(now) + 300
    )


def test_each_token_is_unique() -> None:
    first = jwt.decode(mint(now=1000.0), options={"verify_signature": False})
    second = jwt.decode(mint(now=1000.0), options={"verify_signature": False})
    assert first["jti"] != second["jti"]
    assert {k: v for k, v in first.items() if k != "jti"} == {
        "iss": "neurosphere",
        "aud": "memory",
        "sub": "call:CA1",
        "tenant_id": TENANT,
        "iat": 1000,
        "exp": 1300,
    }


def test_tenant_id_is_normalized() -> None:
    token = mint(tenant_id=TENANT.upper().replace("-", ""))
    assert tokens.verify(RING, token, audience="memory").tenant_id == TENANT


def test_alg_none_is_refused() -> None:
    header = b64url({"alg": "none", "typ": "JWT", "kid": "k1"})
    unsigned = f"{header}.{b64url(claims())}."
    refused(unsigned, "invalid token")


def test_other_algorithm_with_the_same_secret_is_refused() -> None:
    token = jwt.encode(claims(), SECRET + "x" * 30, algorithm="HS512", headers={"kid": "k1"})
    refused(token, "invalid token")


def test_wrong_key_is_refused() -> None:
    refused(mint(tokens.KeyRing.single(OTHER_SECRET)), "Signature verification failed")


def test_tampered_payload_is_refused() -> None:
    header, _, signature = mint().split(".")
    forged = f"{header}.{b64url(claims(tenant_id=str(uuid.uuid4())))}.{signature}"
    refused(forged, "Signature verification failed")


def test_expired_is_refused() -> None:
    refused(mint(now=time.time() - 3600, ttl_s=60), "expired")


def test_expiry_has_five_seconds_of_leeway() -> None:
    token = mint(now=time.time() - 62, ttl_s=60)  # expired 2 s ago
    assert tokens.verify(RING, token, audience="memory").tenant_id == TENANT


def test_wrong_audience_is_refused() -> None:
    refused(mint(audience=tokens.ADMIN_AUDIENCE), "Audience doesn.t match")


def test_wrong_issuer_is_refused() -> None:
    refused(signed(claims(iss="someone-else")), "issuer")


@pytest.mark.parametrize("claim", ["tenant_id", "sub", "exp", "iat", "iss", "aud"])
def test_missing_required_claim_is_refused(claim: str) -> None:
    payload = claims()
    del payload[claim]
    refused(signed(payload), "invalid token")


def test_missing_tenant_id_names_the_claim() -> None:
    refused(signed(claims(tenant_id=None)), 'missing the "tenant_id" claim')


@pytest.mark.parametrize("tenant", ["acme", "", "3f2b8c1e-9a4d-4e6f-8b7a", "1" * 33])
def test_non_uuid_tenant_is_refused(tenant: str) -> None:
    refused(mint(tenant_id=tenant), "tenant_id is not a UUID")


@pytest.mark.parametrize("tenant", [12345, ["a"], {"id": TENANT}])
def test_non_string_tenant_is_refused(tenant: object) -> None:
    refused(signed(claims(tenant_id=tenant)), "tenant_id must be a string")


def test_unknown_kid_is_refused() -> None:
    refused(signed(claims(), kid="k9"), "unknown key id")


def test_missing_kid_is_refused() -> None:
    refused(signed(claims(), kid=None), "no key id")


@pytest.mark.parametrize("token", ["", "garbage", "a.b.c", "a.b"])
def test_garbage_is_refused(token: str) -> None:
    refused(token, "invalid token")


def test_mint_with_an_unknown_current_key_fails() -> None:
    with pytest.raises(tokens.TokenError, match="unknown key id"):
        mint(tokens.KeyRing(keys=(("k1", SECRET),), current="k2"))


def test_key_rotation_verifies_tokens_of_either_key() -> None:
    old = tokens.KeyRing.single(SECRET, kid="2024")
    new = tokens.KeyRing.single(OTHER_SECRET, kid="2025")
    both = tokens.KeyRing(keys=(("2024", SECRET), ("2025", OTHER_SECRET)), current="2025")
    old_token, new_token = mint(old), mint(new)
    assert jwt.get_unverified_header(mint(both))["kid"] == "2025"
    for token in (old_token, new_token, mint(both)):
        assert tokens.verify(both, token, audience="memory").tenant_id == TENANT
    # Once the old key is retired, its tokens are refused.
    with pytest.raises(tokens.TokenError, match="unknown key id"):
        tokens.verify(new, old_token, audience="memory")


def test_same_kid_with_a_rotated_secret_is_refused() -> None:
    rotated = tokens.KeyRing.single(OTHER_SECRET, kid="k1")
    with pytest.raises(tokens.TokenError, match="Signature verification failed"):
        tokens.verify(rotated, mint(), audience="memory")
