"""Caller verification: the tenant's policy, and the identifiers on file for a caller
(write-only: their values are never returned)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Identifier = Literal["date_of_birth", "zip_code", "policy_number", "last_name"]


def _default_fields() -> list[Identifier]:
    return ["date_of_birth", "zip_code"]


class VerificationPolicyBody(BaseModel):
    """Which identifiers a caller may be asked for and how many must match, the attempt limits
    (per call, and failures per caller within the cool-down), and whether an unverified caller
    may be greeted by the first name on their profile. `required: false` gives every caller
    what is on file for their number without proof - not advised."""

    model_config = ConfigDict(extra="forbid")

    required: bool = True
    fields: list[Identifier] = Field(default_factory=_default_fields, min_length=1, max_length=4)
    matches_needed: int = Field(2, ge=1, le=4)
    attempts_per_call: int = Field(3, ge=1, le=10)
    failures_per_caller: int = Field(5, ge=1, le=50)
    cooldown_s: int = Field(900, ge=0, le=86400)
    greet_by_name: bool = True


class IdentifiersUpdate(BaseModel):
    """Identifiers to store for the caller (spoken forms are fine: "March 4, 1980"); null
    removes one; fields left out stay as they are."""

    model_config = ConfigDict(extra="forbid")

    date_of_birth: str | None = Field(None, max_length=200)
    zip_code: str | None = Field(None, max_length=200)
    policy_number: str | None = Field(None, max_length=200)
    last_name: str | None = Field(None, max_length=200)


class IdentifiersPublic(BaseModel):
    caller_number: str
    fields_on_file: list[Identifier]
