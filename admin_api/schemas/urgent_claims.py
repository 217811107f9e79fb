"""The body of /agent/urgent-claims (engine.urgent_claims)."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, Field, StringConstraints, field_validator

from admin_api.schemas.common import Phone, RequestModel, clean_text
from engine.urgent_claims import MAX_CONDITIONS

Condition = Annotated[
    str,
    StringConstraints(min_length=3, max_length=120, strip_whitespace=True),
    AfterValidator(clean_text),
]


class UrgentClaimsBody(RequestModel):
    """`conditions`: what makes a claim urgent, as the agent is told ("someone was injured");
    empty: nothing goes through after hours. `number`: where an urgent claim is put through
    after hours (E.164); null: the staff are texted and call back."""

    conditions: Annotated[list[Condition], Field(max_length=MAX_CONDITIONS)]
    number: Phone | None = None

    @field_validator("conditions")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        if len({c.lower() for c in value}) != len(value):
            raise ValueError("conditions must not repeat")
        return value
