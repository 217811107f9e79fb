"""What a new realtime model session starts with. Pure: the clock and the call's history are
passed in, the frames are returned as text for the call session to send.

Every session opens with its configuration (instructions, voice, turn detection, tools). Then:
- the first session of a call asks for the greeting;
- the first session of a call resumed on a new actor (its earlier turns loaded from Postgres)
  replays the conversation so far, with a recap in the instructions, and asks for a resume line;
- a session that replaces a dropped or rotated one replays the conversation and asks for
  nothing: the state machine (`ModelReconnected`) decides what is asked again.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from engine import realtime_codec as rt
from engine.call_events import ModelReconnected, RequestResponse
from engine.config import TenantConfig
from engine.session_prompt import SessionPrompt, needs_verification, session_prompt
from engine.tools import VERIFY_CALLER, ToolSpec, verify_caller_spec
from prompts import call_lines
from prompts.context import CallerContext
from prompts.instructions import greeting_request, resume_request

RECAP_TURNS = 6
GREETING_ITEM = "item_greeting"  # the greeting an outside voice speaks, in the conversation


class SpokenTurn(Protocol):
    """A turn of the call's history (memory.call_records.Turn) as far as a new session needs it."""

    @property
    def role(self) -> str: ...
    @property
    def text(self) -> str: ...
    @property
    def meta(self) -> Mapping[str, Any]: ...


@dataclass(frozen=True, slots=True)
class SessionFacts:
    """What every session's instructions are made of: the caller, what is known about them,
    the tools on offer, the conversation so far, and whether the call resumed on a new actor."""

    caller_number: str
    context: CallerContext
    tools: Mapping[str, ToolSpec]
    history: Sequence[SpokenTurn]
    resumed: bool


@dataclass(frozen=True, slots=True)
class Opening:
    frames: list[str]  # sent first, in order, before anything held meanwhile
    then: ModelReconnected | RequestResponse | None  # the event the call session applies next
    tools: dict[str, ToolSpec]  # what the session offers (verify_caller while unverified)
    greeting: str | None = None  # for the call's own voice to speak (it is in `frames` as text)


def loads_history(attempt: int, reconnected: bool) -> bool:
    """A call resumed on a new actor loads its earlier turns once, for its first session."""
    return attempt > 0 and not reconnected


def recap(turns: Iterable[SpokenTurn]) -> str:
    """The last few lines of the conversation, for the instructions of a resumed call, and the
    note of a warm transfer the caller came back from when nothing was said since."""
    kept = [t for t in turns if t.role in ("caller", "agent") or _transfer_note(t)]
    spoken = [t for t in kept if not _transfer_note(t)][-RECAP_TURNS:]
    lines = [f"{'Caller' if t.role == 'caller' else 'You'}: {t.text}" for t in spoken]
    if kept and _transfer_note(kept[-1]):
        lines.append(f"Note: {kept[-1].text}")
    return "\n".join(lines)


def _transfer_note(turn: SpokenTurn) -> bool:
    return turn.role == "system" and "warm_transfer" in turn.meta


def replay(turns: Iterable[SpokenTurn]) -> list[str]:
    """The conversation so far as items of the new session (tool and system turns are not)."""
    frames: list[str] = []
    for turn in turns:
        if turn.role == "caller":
            frames.append(rt.conversation_text("user", turn.text))
        elif turn.role == "agent":
            frames.append(rt.conversation_text("assistant", turn.text))
        elif turn.role == "dtmf":
            frames.append(rt.conversation_text("user", call_lines.keypad(turn.text)))
    return frames


def _prompt(
    tenant: TenantConfig, facts: SessionFacts, tools: Iterable[str], now: datetime, verified: bool
) -> SessionPrompt:
    """The instructions of a session: a resumed call's carry the recap of its history."""
    return session_prompt(
        tenant,
        caller_number=facts.caller_number,
        context=facts.context,
        tools=tuple(tools),
        now=now,
        resumed_from=recap(facts.history) if facts.resumed else None,
        verified=verified,
    )


def opening(
    tenant: TenantConfig,
    facts: SessionFacts,
    *,
    reconnected: bool,
    now: datetime,
    verified: bool = False,
    text_only: bool = False,
    recording_notice: str | None = None,
) -> Opening:
    """The frames a session starts with and what to ask of it (see the module docstring).
    While a known caller is unverified nothing stored about them is in the instructions and
    `verify_caller` is offered (engine.session_prompt). With `text_only` the model answers in
    text for an outside voice to speak, and a new call's greeting is that voice's to say
    (`Opening.greeting`), not the model's. `recording_notice`: a resumed call whose recording
    is still owed its notice says it again first (engine.recording_consent)."""
    resumed = facts.resumed
    offered = dict(facts.tools)
    if needs_verification(tenant, facts.context, verified=verified):
        offered[VERIFY_CALLER] = verify_caller_spec(tenant)
    prompt = _prompt(tenant, facts, offered, now, verified)
    frames = [
        rt.session_update(
            instructions=prompt.instructions,
            voice=tenant.voice,
            vad=tenant.vad,
            tools=[spec.session_entry() for spec in offered.values()] or None,
            text_only=text_only,
        )
    ]
    if reconnected or resumed:
        frames += replay(facts.history)
    if reconnected:
        return Opening(frames, ModelReconnected(), offered)
    if text_only and not resumed:
        # an outside voice speaks the greeting, from its cache when it said it before: no
        # model turn to wait for; the model's conversation holds it as said
        frames.append(rt.assistant_text(GREETING_ITEM, prompt.greeting))
        return Opening(frames, None, offered, greeting=prompt.greeting)
    request = resume_request(recording_notice) if resumed else greeting_request(prompt.greeting)
    return Opening(frames, RequestResponse(request), offered)


def disclosure(tenant: TenantConfig, facts: SessionFacts, now: datetime) -> str:
    """The session update once the caller is verified: the full caller context in the
    instructions, and `verify_caller` no longer offered."""
    prompt = _prompt(tenant, facts, facts.tools, now, verified=True)
    tools = [spec.session_entry() for spec in facts.tools.values()]
    return rt.session_instructions(instructions=prompt.instructions, tools=tools)
