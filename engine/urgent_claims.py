"""Urgent claims after hours: what counts as urgent for an agency, and what the agent does with
one while the office is closed. Pure.

After hours the agent takes messages, but an urgent claim still goes through: when the caller
reports one of the agency's urgent conditions (by default an injury, a vehicle that cannot be
driven, a home that cannot be lived in), the agent calls `report_urgent_claim` (engine.tools,
actors/call_tools.py). That records it as an urgent message, which texts the staff at once
(message.taken, through the outbox), and, when the agency has an after-hours number for urgent
claims, transfers the caller there.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

DEFAULT_CONDITIONS = (
    "someone was injured",
    "a vehicle cannot be driven",
    "the home cannot be lived in",
)
MAX_CONDITIONS = 10


@dataclass(frozen=True, slots=True)
class UrgentClaims:
    """The agency's urgent conditions, and where an urgent claim is put through after hours
    (None: nobody is on call; the staff are texted and the caller is promised a call back)."""

    conditions: tuple[str, ...] = DEFAULT_CONDITIONS
    number: str | None = None

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> UrgentClaims:
        """From the stored form (the admin API's, validated); {} is the defaults."""
        conditions = value.get("conditions")
        return cls(
            tuple(str(c) for c in conditions) if conditions is not None else DEFAULT_CONDITIONS,
            value.get("number") or None,
        )

    def to_json(self) -> dict[str, Any]:
        return {"conditions": list(self.conditions), "number": self.number}
