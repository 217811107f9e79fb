"""The instructions and opening greeting of a call's realtime session, from the tenant's agent
and what is known about the caller. Pure. Used by the call actor and by the admin API's
preview, so the preview is exactly what the agent gets."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from engine.config import TenantConfig
from prompts import call_lines
from prompts.context import CallerContext, pack_context
from prompts.greeting import choose_greeting
from prompts.instructions import AgentPrompt, build_instructions

SPEAK_THE_CALLERS_LANGUAGE = (
    "You speak English and Spanish. Answer in the language the caller speaks, and switch when "
    "they switch."
)
EMPTY_CONTEXT = CallerContext(profile=None, personality={}, summaries=(), memories=(), knowledge=())


@dataclass(frozen=True, slots=True)
class SessionPrompt:
    instructions: str
    greeting: str  # what the agent says first (with the recording notice when recorded)


def session_prompt(
    tenant: TenantConfig,
    *,
    caller_number: str,
    context: CallerContext,
    tools: tuple[str, ...],
    now: datetime,
    user_name: str | None = None,
    resumed_from: str | None = None,
) -> SessionPrompt:
    """`user_name` defaults to the caller's known preferred name."""
    if user_name is None and context.profile is not None:
        user_name = context.profile.preferred_name
    greeting = choose_greeting(
        new_caller_template=tenant.greeting_new,
        returning_template=tenant.greeting_returning,
        user_name=user_name,
        agent_name=tenant.agent_name,
        now=now,
        time_zone=tenant.time_zone,
    )
    if tenant.record_calls and tenant.recording_consent:
        greeting = f"{tenant.recording_consent} {greeting}"  # before anything else is said
    if tenant.spanish:  # the caller's language is not known yet: offer Spanish in Spanish
        notice = call_lines.SPANISH_RECORDING_NOTICE if tenant.record_calls else ""
        greeting = " ".join(filter(None, (greeting, notice, call_lines.SPANISH_OFFER)))
    agent = AgentPrompt(
        agency_name=tenant.name,
        agent_name=tenant.agent_name,
        sliders=dict(tenant.sliders),
        blocks=dict(tenant.blocks),
        time_zone=tenant.time_zone,
        tools=tools,
        extra_rules=(SPEAK_THE_CALLERS_LANGUAGE,) if tenant.spanish else (),
    )
    instructions = build_instructions(
        agent,
        caller_number=caller_number,
        context=pack_context(context, now=now),
        greeting=greeting,
        now=now,
        resumed_from=resumed_from,
    )
    return SessionPrompt(instructions, greeting)
