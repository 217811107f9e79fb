"""Request and response bodies of /auth: login, refresh, password change, who am I."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import ConfigDict, Field, StringConstraints

from admin_api.passwords import MAX_LENGTH
from admin_api.schemas.common import Email, PublicModel, RequestModel

# Login accepts any password length up to a bound (the policy applies when one is set).
LoginPassword = Annotated[str, StringConstraints(min_length=1, max_length=4 * MAX_LENGTH)]
NewPassword = Annotated[str, StringConstraints(min_length=1, max_length=4 * MAX_LENGTH)]
RefreshToken = Annotated[str, StringConstraints(min_length=1, max_length=200)]


class LoginRequest(RequestModel):
    email: Email
    password: LoginPassword


class PasswordGrant(RequestModel):
    """The OAuth2 password grant's form (RFC 6749 4.3.2); `scope` and a client id are ignored."""

    model_config = ConfigDict(extra="ignore")
    grant_type: Annotated[str, StringConstraints(max_length=40)]
    username: Email
    password: LoginPassword


class RefreshRequest(RequestModel):
    refresh_token: RefreshToken


class PasswordChange(RequestModel):
    current_password: LoginPassword
    new_password: NewPassword = Field(
        description="12 to 128 characters, not a common password, not containing your email."
    )


class MePublic(PublicModel):
    user_id: str
    email: str
    role: Literal["platform_admin", "owner", "admin", "viewer"]
    tenant_id: str | None
    display_name: str | None
    last_login_at: datetime | None
    password_changed_at: datetime


class TokenPair(PublicModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 - the OAuth token type, not a secret
    expires_in: int = Field(description="Seconds until the access token expires.")
    refresh_token: str = Field(description="Use once at /auth/refresh; it is replaced each time.")
    user: MePublic
