"""The instructions and opening greeting of a call's realtime session, from the tenant's agent
and what is known about the caller. Pure. Used by the call actor and by the admin API's
preview, so the preview is exactly what the agent gets."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from engine.business_hours import opens_text
from engine.config import TenantConfig
from engine.verification import first_name
from prompts import call_lines
from prompts.after_hours import after_hours_rule, urgent_rule
from prompts.context import CallerContext, pack_context
from prompts.disclosure import with_disclosure
from prompts.greeting import choose_greeting
from prompts.instructions import AgentPrompt, build_instructions
from prompts.verification import unverified_caller_text, verified_context_text

SPEAK_THE_CALLERS_LANGUAGE = (
    "You speak English and Spanish. Answer in the language the caller speaks, and switch when "
    "they switch."
)
EMPTY_CONTEXT = CallerContext(profile=None, personality={}, summaries=(), memories=(), knowledge=())


@dataclass(frozen=True, slots=True)
class SessionPrompt:
    instructions: str
    greeting: str  # what the agent says first (with the recording notice when recorded)
    needs_verification: bool = False  # stored facts are withheld until verify_caller succeeds


def needs_verification(tenant: TenantConfig, context: CallerContext, *, verified: bool) -> bool:
    """A known caller (one with a profile) must verify before anything stored about them
    reaches the model, when the tenant requires it. A new caller has nothing to protect."""
    return tenant.verification.required and context.profile is not None and not verified


def withheld(context: CallerContext) -> CallerContext:
    """What of the caller context may reach the model before verification: the agency's
    knowledge (which is not about the caller), nothing else."""
    return CallerContext(
        profile=None, personality={}, summaries=(), memories=(), knowledge=context.knowledge
    )


def session_prompt(
    tenant: TenantConfig,
    *,
    caller_number: str,
    context: CallerContext,
    tools: tuple[str, ...],
    now: datetime,
    user_name: str | None = None,
    resumed_from: str | None = None,
    verified: bool = False,
    can_verify: bool = True,
) -> SessionPrompt:
    """`user_name` defaults to the caller's known preferred name - only its first word, and
    only when the tenant allows it, while the caller still has to verify (`needs_verification`).
    `can_verify` is False when the profile holds too few of the tenant's identifiers."""
    policy = tenant.verification
    guarded = needs_verification(tenant, context, verified=verified)
    if user_name is None and context.profile is not None:
        user_name = context.profile.preferred_name
    if guarded:
        user_name = first_name(user_name) if policy.greet_by_name else None
    closed_greeting = tenant.hours.after_hours_greeting if tenant.closed else ""
    greeting = choose_greeting(
        new_caller_template=closed_greeting or tenant.greeting_new,
        returning_template=closed_greeting or tenant.greeting_returning,
        user_name=user_name,
        agent_name=tenant.agent_name,
        now=now,
        time_zone=tenant.time_zone,
    )
    greeting = with_disclosure(
        greeting, agency_name=tenant.name, required=tenant.ai_disclosure_required
    )
    if tenant.record_calls and tenant.recording_consent:
        greeting = f"{tenant.recording_consent} {greeting}"  # before anything else is said
    if tenant.spanish:  # the caller's language is not known yet: offer Spanish in Spanish
        notice = call_lines.SPANISH_RECORDING_NOTICE if tenant.record_calls else ""
        greeting = " ".join(filter(None, (greeting, notice, call_lines.SPANISH_OFFER)))
    extra_rules: list[str] = [SPEAK_THE_CALLERS_LANGUAGE] if tenant.spanish else []
    if tenant.closed is not None:
        opens = opens_text(tenant.closed, now)
        extra_rules.append(after_hours_rule(reason=tenant.closed.reason, opens=opens))
        urgent = tenant.urgent
        if urgent.conditions:
            extra_rules.append(urgent_rule(urgent.conditions, on_call=urgent.number is not None))
    agent = AgentPrompt(
        agency_name=tenant.name,
        agent_name=tenant.agent_name,
        sliders=dict(tenant.sliders),
        blocks=dict(tenant.blocks),
        time_zone=tenant.time_zone,
        tools=tools,
        extra_rules=tuple(extra_rules),
    )
    if guarded:
        about_caller = unverified_caller_text(
            first_name=user_name,
            fields=policy.fields,
            matches_needed=policy.matches_needed,
            can_verify=can_verify,
        )
        known = pack_context(withheld(context), now=now, announce_new_caller=False)
        packed = about_caller + ("\n\n" + known if known.strip() else "")
    elif tenant.verification.required and context.profile is not None:
        packed = verified_context_text(pack_context(context, now=now))
    else:
        packed = pack_context(context, now=now)
    instructions = build_instructions(
        agent,
        caller_number=caller_number,
        context=packed,
        greeting=greeting,
        now=now,
        resumed_from=resumed_from,
    )
    return SessionPrompt(instructions, greeting, guarded)
