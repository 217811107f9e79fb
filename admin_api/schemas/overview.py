"""Response body of /overview: a tenant's calls counted per local day and over the window."""

from __future__ import annotations

from datetime import date

from pydantic import Field

from admin_api.schemas.common import PublicModel


class CallCountsPublic(PublicModel):
    calls: int
    answered: int = Field(description="Calls the engine answered (the rest never connected).")
    transferred: int
    message_taken: int = Field(description="Calls, not transferred, in which a message was taken.")
    caller_hung_up: int = Field(description="Other calls the caller ended.")
    agent_ended: int = Field(description="Other calls the agent ended.")
    other: int = Field(description="Failed, lost or never connected.")
    avg_duration_ms: float | None
    avg_answer_ms: float | None = Field(
        description="From the call reaching the engine to the greeting starting."
    )
    p90_answer_ms: float | None
    positive: int = Field(description="Calls whose summary judged the caller positive.")
    neutral: int
    negative: int
    mixed: int


class DayPublic(CallCountsPublic):
    day: date = Field(description="A day in the tenant's time zone.")


class OverviewPublic(PublicModel):
    time_zone: str
    live: int = Field(description="Calls going on right now.")
    today: int = Field(description="Calls started today (the tenant's day).")
    this_week: int = Field(description="Calls started since Monday (the tenant's week).")
    transfer_rate: float | None = Field(description="Transferred calls / finished calls.")
    window: CallCountsPublic = Field(description="Every call of the window.")
    days: list[DayPublic] = Field(description="Every day of the window, oldest first.")
