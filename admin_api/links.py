"""Short-lived links a browser can use where it cannot send an Authorization header (an
`<audio>` element, a WebSocket): a JWT in the URL for one audience and one subject (a
recording, a test call), bound to the tenant, the user and their session. Signing out ends
the links made in that session. I/O: the session check reads Postgres.
"""

from __future__ import annotations

import time

from fastapi import HTTPException

from admin_api.auth import Member
from admin_api.context import WebhookContext
from admin_api.state import AdminState
from engine.tokens import TokenError, decode, mint_claims, uuid_claim
from memory import users

_CLAIMS = ("exp", "iat", "iss", "aud", "sub", "tenant_id", "uid", "sid")


def mint_link(
    admin: AdminState, member: Member, *, audience: str, subject: str, ttl_s: int, now: int
) -> str:
    """The token of a link to `subject` for `member`'s session, valid `ttl_s` from `now`."""
    return mint_claims(
        admin.ring,
        subject=subject,
        audience=audience,
        ttl_s=ttl_s,
        now=now,
        tenant_id=member.tenant_id,
        uid=member.user_id,
        sid=member.session_id,
    )


async def link_tenant(
    ctx: WebhookContext, admin: AdminState, token: str, *, audience: str, subject: str
) -> str:
    """The tenant a link token was made for, if it is for `subject` and its session is still
    open; HTTPException 401 otherwise."""
    try:
        claims = decode(admin.ring, token, audience=audience, required=_CLAIMS)
        tenant_id = uuid_claim(claims, "tenant_id")
        user_id = uuid_claim(claims, "uid")
        session_id = uuid_claim(claims, "sid")
    except TokenError:
        raise HTTPException(401, "invalid or expired link") from None
    if claims["sub"] != subject:
        raise HTTPException(401, "this link is for something else")
    user = await users.session_user(await ctx.db(), tenant_id, session_id, user_id)
    if user is None:
        raise HTTPException(401, "the session this link was made in has ended")
    return tenant_id


def now_s() -> int:
    return int(time.time())
