"""Request and response bodies of invitations: an email and a role in, a single-use link out;
the invited person answers with the link's token and a password of their own."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from admin_api.schemas.auth import NewPassword
from admin_api.schemas.common import Email, Name, PublicModel, RequestModel
from admin_api.schemas.users import TenantRoleName

InvitationToken = Annotated[str, StringConstraints(min_length=1, max_length=200)]


class InvitationCreate(RequestModel):
    email: Email
    role: TenantRoleName
    display_name: Name | None = None


class InvitationPublic(PublicModel):
    email: str
    role: TenantRoleName
    expires_at: datetime
    token: str = Field(description="Works once, until expires_at; shown only now.")
    url: str = Field(description="The console page where the invited person sets a password.")


class InvitationLookup(RequestModel):
    token: InvitationToken


class InvitationInfo(PublicModel):
    email: str
    role: TenantRoleName
    expires_at: datetime


class InvitationAccept(RequestModel):
    token: InvitationToken
    password: NewPassword = Field(
        description="12 to 128 characters, not a common password, not containing the email."
    )


InvitationProblem = Literal["used", "expired", "unknown"]
