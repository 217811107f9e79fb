"""/auth: log in, refresh, log out, change password, who am I.

Login costs one argon2id verification whether or not the account exists (a dummy hash stands
in for unknown emails) and answers the same 401 for a wrong password, an unknown email and a
disabled account. Failed logins are counted per email digest in Postgres - known or not - and
lock that email out for a doubling delay from the fifth failure. Login attempts are also limited
per client IP and per email per minute, and refreshes per client IP, counted in Postgres so all
replicas share one budget (admin_api.ratelimit). Locked and rate-limited attempts get 429 with
Retry-After and never reach the hasher.
"""

from __future__ import annotations

import hashlib
import math
from datetime import UTC, datetime

import structlog
from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from admin_api.auth import (
    Admin,
    CurrentUser,
    client_ip,
    mint_access,
    new_refresh,
    parse_refresh,
    unauthorized,
)
from admin_api.passwords import PasswordRejected, check_policy
from admin_api.schemas.auth import (
    LoginRequest,
    MePublic,
    PasswordChange,
    PasswordGrant,
    RefreshRequest,
    TokenPair,
)
from admin_api.schemas.common import ERRORS
from admin_api.state import AdminState
from admin_api.webhooks import Ctx, Form
from engine.tokens import TokenError
from memory import login_throttle, users
from memory.users import AdminUser, LoginRef

log = structlog.get_logger(__name__)

router = APIRouter(responses=ERRORS, prefix="/auth", tags=["auth"])

BAD_LOGIN = "email or password is incorrect"


def email_digest(email: str) -> bytes:
    return hashlib.sha256(b"admin-login:" + email.strip().lower().encode()).digest()


def _too_many(retry_after: float, detail: str) -> HTTPException:
    return HTTPException(429, detail, headers={"Retry-After": str(max(1, math.ceil(retry_after)))})


def me_public(user: AdminUser) -> MePublic:
    return MePublic(
        user_id=user.user_id,
        email=user.email,
        role=user.role,
        tenant_id=user.tenant_id,
        display_name=user.display_name,
        last_login_at=user.last_login_at,
        password_changed_at=user.password_changed_at,
    )


def _tokens(admin: AdminState, user: AdminUser, session_id: str, refresh: str) -> TokenPair:
    access = mint_access(
        admin.ring,
        user_id=user.user_id,
        tenant_id=user.tenant_id,
        role=user.role,
        session_id=session_id,
        ttl_s=admin.policy.access_ttl_s,
    )
    return TokenPair(
        access_token=access,
        expires_in=admin.policy.access_ttl_s,
        refresh_token=refresh,
        user=me_public(user),
    )


@router.post("/login", response_model=TokenPair)
async def login(body: LoginRequest, request: Request, ctx: Ctx, admin: Admin) -> TokenPair:
    """Email and password for an access token and a refresh token."""
    return await _login(body, request, ctx, admin)


@router.post(
    "/token",
    response_model=TokenPair,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/x-www-form-urlencoded": {
                    "schema": PasswordGrant.model_json_schema(ref_template="{model}")
                }
            },
        }
    },
)
async def token(form: Form, request: Request, ctx: Ctx, admin: Admin) -> TokenPair:
    """The OAuth2 password grant (a form, `username` being the email; what the docs page's
    Authorize dialog sends): the same login, limits and tokens as POST /auth/login."""
    try:
        grant = PasswordGrant.model_validate(form)
    except ValidationError as exc:
        raise RequestValidationError(exc.errors(include_url=False)) from None
    if grant.grant_type != "password":
        raise HTTPException(400, "grant_type must be password")
    body = LoginRequest(email=grant.username, password=grant.password)
    return await _login(body, request, ctx, admin)


async def _login(body: LoginRequest, request: Request, ctx: Ctx, admin: Admin) -> TokenPair:
    policy = admin.policy
    digest = email_digest(body.email)
    pool = await ctx.db()
    wait = await admin.limits.hit(pool, admin.login_by_ip, client_ip(request))
    if wait is None:
        wait = await admin.limits.hit(pool, admin.login_by_account, digest.hex())
    if wait is not None:
        raise _too_many(wait, "too many login attempts; slow down")
    throttle = await login_throttle.throttle_state(pool, digest, window_s=policy.failure_window_s)
    now = datetime.now(UTC)
    if throttle.locked_until is not None and throttle.locked_until > now:
        raise _too_many(
            (throttle.locked_until - now).total_seconds(),
            "too many failed logins for this email; try again later",
        )
    ref = await users.find_login(pool, body.email)
    creds = await users.credentials(pool, ref) if ref is not None else None
    ok = await admin.passwords.verify(creds.password_hash if creds else None, body.password)
    if not ok or creds is None or creds.user.disabled:
        state = await login_throttle.record_failure(
            pool,
            digest,
            window_s=policy.failure_window_s,
            lock_after=policy.lock_after,
            base_lock_s=policy.base_lock_s,
            max_lock_s=policy.max_lock_s,
        )
        log.info(
            "admin_login_failed",
            user_id=ref.user_id if ref else None,
            failures=state.failures,
            locked=state.locked_until is not None,
        )
        raise unauthorized(BAD_LOGIN)
    user = creds.user
    await login_throttle.clear_failures(pool, digest)
    if not creds.tenant_active:
        raise HTTPException(403, "this tenant is suspended; ask the platform admin")
    if admin.passwords.needs_rehash(creds.password_hash):
        rehashed = await admin.passwords.hash(body.password)
        await users.set_password_hash(
            pool, LoginRef(user.user_id, user.tenant_id), rehashed, changed_by=None
        )
        log.info("admin_password_rehashed", user_id=user.user_id)
    refresh, refresh_hash = new_refresh(user.tenant_id)
    session_id = await users.open_session(
        pool,
        user,
        refresh_hash,
        session_s=policy.session_ttl_s,
        refresh_s=policy.refresh_ttl_s,
    )
    log.info("admin_logged_in", user_id=user.user_id, tenant_id=user.tenant_id)
    return _tokens(admin, user, session_id, refresh)


@router.post("/refresh", response_model=TokenPair)
async def refresh(body: RefreshRequest, request: Request, ctx: Ctx, admin: Admin) -> TokenPair:
    """A used refresh token for a new pair. Each refresh token works once; presenting one
    again ends its session."""
    pool = await ctx.db()
    wait = await admin.limits.hit(pool, admin.refresh_by_ip, client_ip(request))
    if wait is not None:
        raise _too_many(wait, "too many refresh attempts; slow down")
    try:
        scope, presented = parse_refresh(body.refresh_token)
    except TokenError:
        raise unauthorized("invalid refresh token") from None
    token, next_hash = new_refresh(scope)
    rotation = await users.rotate_refresh(
        pool, scope, presented, next_hash, refresh_s=admin.policy.refresh_ttl_s
    )
    if rotation.outcome == "reused":
        log.warning("admin_refresh_reused", user_id=rotation.user_id)
        raise unauthorized("refresh token already used; the session has been ended")
    if rotation.outcome != "rotated" or rotation.user_id is None or rotation.session_id is None:
        raise unauthorized("invalid or expired refresh token")
    user = await users.session_user(pool, scope, rotation.session_id, rotation.user_id)
    if user is None:
        raise unauthorized("session has ended; log in again")
    return _tokens(admin, user, rotation.session_id, token)


@router.post("/logout", status_code=204)
async def logout(principal: CurrentUser, ctx: Ctx) -> Response:
    """End this session: its access and refresh tokens stop working at once."""
    await users.revoke_session(
        await ctx.db(), principal.tenant_id, principal.session_id, principal.actor, "logout"
    )
    return Response(status_code=204)


@router.get("/me", response_model=MePublic)
async def me(principal: CurrentUser, ctx: Ctx) -> MePublic:
    user = await users.get_user(await ctx.db(), principal.tenant_id, principal.user_id)
    if user is None:
        raise unauthorized("session has ended; log in again")
    return me_public(user)


@router.post("/password", status_code=204)
async def change_password(
    body: PasswordChange, principal: CurrentUser, ctx: Ctx, admin: Admin
) -> Response:
    """Change your password. Every session of yours ends, this one included: log in again."""
    pool = await ctx.db()
    wait = await admin.limits.hit(pool, admin.login_by_account, email_digest(principal.email).hex())
    if wait is not None:
        raise _too_many(wait, "too many attempts; slow down")
    ref = LoginRef(principal.user_id, principal.tenant_id)
    creds = await users.credentials(pool, ref)
    if creds is None or not await admin.passwords.verify(
        creds.password_hash, body.current_password
    ):
        raise HTTPException(403, "current password is incorrect")
    try:
        new = check_policy(body.new_password, email=principal.email)
    except PasswordRejected as exc:
        raise HTTPException(422, str(exc)) from None
    if await admin.passwords.verify(creds.password_hash, new):
        raise HTTPException(422, "the new password must differ from the current one")
    await users.set_password_hash(
        pool, ref, await admin.passwords.hash(new), changed_by=principal.actor
    )
    log.info("admin_password_changed", user_id=principal.user_id)
    return Response(status_code=204)
