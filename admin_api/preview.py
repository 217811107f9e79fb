"""The instructions an agent would get for a call, built exactly as the call actor builds them
for a new session (actors/call_actor.py `_on_model_opened`): the same tenant snapshot
(`memory.tenants.load_config`, what the tenant actor hands a call), the same tools
(`engine.tools.tool_specs`), greeting (`choose_greeting`), context packing and
`build_instructions`. Pure given the snapshot and the clock.

With no caller context (a first-time caller) the result is byte for byte what the realtime
model receives; a returning caller's memory would add to the context section.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from engine.config import TenantConfig
from engine.session_prompt import EMPTY_CONTEXT, session_prompt
from engine.tools import tool_specs


@dataclass(frozen=True, slots=True)
class Preview:
    instructions: str
    greeting: str
    voice: str
    tools: tuple[str, ...]
    version: int


def preview(
    tenant: TenantConfig, *, caller_number: str, caller_name: str | None, now: datetime
) -> Preview:
    """ValueError when the settings cannot make instructions (the message says why)."""
    tools = tuple(tool_specs(tenant))
    prompt = session_prompt(
        tenant,
        caller_number=caller_number,
        context=EMPTY_CONTEXT,
        tools=tools,
        now=now,
        user_name=caller_name,
    )
    return Preview(prompt.instructions, prompt.greeting, tenant.voice, tools, tenant.version)
