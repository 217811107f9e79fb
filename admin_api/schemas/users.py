"""Request and response bodies of the users of a tenant."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from admin_api.schemas.auth import NewPassword
from admin_api.schemas.common import Email, Name, PublicModel, RequestModel

TenantRoleName = Literal["owner", "admin", "viewer"]


class UserCreate(RequestModel):
    email: Email
    password: NewPassword
    role: TenantRoleName
    display_name: Name | None = None


class UserUpdate(RequestModel):
    role: TenantRoleName | None = None
    display_name: Name | None = None
    disabled: bool | None = None


class UserPublic(PublicModel):
    user_id: str
    tenant_id: str | None
    email: str
    role: Literal["platform_admin", "owner", "admin", "viewer"]
    display_name: str | None
    disabled: bool
    created_at: datetime
    last_login_at: datetime | None
