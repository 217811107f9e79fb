"""Admin access tokens and refresh tokens: round trips and every refusal."""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Callable

import jwt
import pytest

from admin_api.auth import (
    PLATFORM_SCOPE,
    mint_access,
    new_refresh,
    parse_refresh,
    verify_access,
)
from engine import tokens

SECRET = "s" * 40
RING = tokens.KeyRing.single(SECRET)
TENANT = str(uuid.uuid4())
USER = str(uuid.uuid4())
SESSION = str(uuid.uuid4())


def _mint(**overrides: object) -> str:
    args: dict[str, object] = {
        "user_id": USER,
        "tenant_id": TENANT,
        "role": "owner",
        "session_id": SESSION,
        "ttl_s": 900,
    }
    args.update(overrides)
    return mint_access(RING, **args)  # type: ignore[arg-type]


def _payload(**overrides: object) -> dict[str, object]:
    now = int(time.time())
    payload: dict[str, object] = {
        "iss": tokens.ISSUER,
        "aud": tokens.ADMIN_AUDIENCE,
        "sub": USER,
        "tenant_id": TENANT,
        "role": "owner",
        "sid": SESSION,
        "iat": now,
        "exp": now + 900,
    }
    payload.update(overrides)
    return {k: v for k, v in payload.items() if v is not None}


def _signed(payload: dict[str, object], key: str = SECRET, kid: str = "k1") -> str:
    return jwt.encode(payload, key, algorithm="HS256", headers={"kid": kid})


def test_round_trip_for_tenant_user_and_platform_admin() -> None:
    claims = verify_access(RING, _mint())
    assert (claims.user_id, claims.tenant_id, claims.role, claims.session_id) == (
        USER,
        TENANT,
        "owner",
        SESSION,
    )
    platform = verify_access(RING, _mint(tenant_id=None, role="platform_admin"))
    assert platform.tenant_id is None
    assert platform.role == "platform_admin"
    raw = jwt.decode(
        _mint(tenant_id=None, role="platform_admin"), options={"verify_signature": False}
    )
    assert raw["tenant_id"] == PLATFORM_SCOPE
    assert raw["aud"] == "admin"
    assert raw["exp"] - raw["iat"] == 900


@pytest.mark.parametrize(
    ("make_token", "match"),
    [
        (lambda: _signed(_payload(exp=int(time.time()) - 60)), "expired"),
        (lambda: _signed(_payload(), key="x" * 40), "Signature"),
        (lambda: _signed(_payload(aud="memory")), "Audience"),
        (lambda: _signed(_payload(iss="someone-else")), "issuer"),
        (lambda: _signed(_payload(role=None)), "role"),
        (lambda: _signed(_payload(sid=None)), "sid"),
        (lambda: _signed(_payload(role="superuser")), "unknown role"),
        (lambda: _signed(_payload(role="platform_admin")), "role does not match"),
        (lambda: _signed(_payload(tenant_id=PLATFORM_SCOPE)), "role does not match"),
        (lambda: _signed(_payload(tenant_id="not-a-uuid")), "tenant_id is not a UUID"),
        (lambda: _signed(_payload(sub="admin")), "sub is not a UUID"),
        (lambda: _signed(_payload(), kid="k9"), "unknown key id"),
        (lambda: "not.a.jwt", "invalid token"),
    ],
)
def test_refusals(make_token: Callable[[], str], match: str) -> None:
    # minted when the test runs, not when it is collected: a long suite must not expire them
    with pytest.raises(tokens.TokenError, match=match):
        verify_access(RING, make_token())


def test_tampered_payload_is_refused() -> None:
    header, payload, signature = _mint().split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["role"] = "owner" if claims["role"] != "owner" else "admin"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    with pytest.raises(tokens.TokenError, match="Signature"):
        verify_access(RING, f"{header}.{forged}.{signature}")


def test_alg_none_is_refused() -> None:
    token = jwt.encode(_payload(), "", algorithm="none", headers={"kid": "k1"})
    with pytest.raises(tokens.TokenError):
        verify_access(RING, token)


def test_memory_token_is_not_an_admin_token() -> None:
    memory = tokens.mint(
        RING, tenant_id=TENANT, subject=USER, audience=tokens.MEMORY_AUDIENCE, ttl_s=60
    )
    with pytest.raises(tokens.TokenError, match="invalid token"):
        verify_access(RING, memory)
    with pytest.raises(tokens.TokenError, match="Audience"):
        tokens.verify(RING, _mint(), audience=tokens.MEMORY_AUDIENCE)


def test_refresh_tokens_round_trip_and_hide_their_secret() -> None:
    token, digest = new_refresh(TENANT)
    assert token.startswith(f"nsr1.{TENANT}.")
    assert parse_refresh(token) == (TENANT, digest)
    platform, platform_digest = new_refresh(None)
    assert parse_refresh(platform) == (None, platform_digest)
    assert digest not in token.encode()
    assert new_refresh(TENANT)[0] != token


@pytest.mark.parametrize(
    "token",
    [
        "",
        "nsr1",
        "nsr2.platform." + "A" * 43,
        "nsr1.not-a-uuid." + "A" * 43,
        "nsr1.platform." + "A" * 42,
        "nsr1.platform." + "*" * 43,
        "nsr1.platform.AAAA.extra",
    ],
)
def test_malformed_refresh_tokens_are_refused(token: str) -> None:
    with pytest.raises(tokens.TokenError):
        parse_refresh(token)
