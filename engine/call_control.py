"""Call control inside the state machine: one model response at a time, ending or transferring
a call only after the closing words were heard, silence and call-length limits, keypad presses.
Pure functions over `CallState`, used by `engine.call_state.step`.

Responses: the realtime API runs one response at a time, so a request made while one is
running (a tool result, a filler, a keypad press) waits in a queue and goes out when the
running one is done.

Closing: `end_call`, a transfer, a keypad action, the silence rule or the call-length limit
ask the model to say the closing words; once that response is done and Twilio has returned
every mark (the caller heard it all), the state machine emits FinishAfterSpeech and the actor
hangs up or redirects through the Twilio REST API. A stop from Twilio after that records the
intended outcome, not a caller hang-up.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from engine import realtime_codec as rt
from engine.call_events import (
    CloseKind,
    Command,
    CreateResponse,
    EndCall,
    FinishAfterSpeech,
    RecordTurn,
    SendToolOutput,
    SendUserText,
    ToolResult,
)
from engine.config import DtmfAction, TenantConfig, TransferRule
from engine.language import detect_language
from engine.transfer_match import match_transfer_request
from engine.warm_transfer import warm_rule
from prompts import call_lines
from prompts.disclosure import disclosure_line

if TYPE_CHECKING:
    from engine.call_state import CallState

CLOSING_TIMEOUT_S = 20.0
BUSY_ERROR = "conversation_already_has_active_response"


@dataclass(frozen=True, slots=True)
class CallRules:
    """The tenant's call-control settings, frozen into the call's state."""

    silence_s: float = 10.0
    max_call_s: float = 1800.0
    dtmf: tuple[tuple[str, DtmfAction], ...] = ()
    transfers: tuple[TransferRule, ...] = ()
    fallback_number: str | None = None
    min_interrupt_ms: int = 0  # caller speech over the agent before it stops (0: at once)
    spanish: bool = False  # the agent follows a caller who speaks Spanish
    disclosure: str = ""  # the AI disclosure line when the tenant must disclose (disclosure_steps)

    @classmethod
    def of(cls, tenant: TenantConfig) -> CallRules:
        return cls(
            silence_s=float(tenant.silence_timeout_s),
            max_call_s=float(tenant.max_call_seconds),
            dtmf=tenant.dtmf_actions,
            transfers=tenant.transfer_rules,
            fallback_number=tenant.fallback_number,
            min_interrupt_ms=tenant.vad.min_interrupt_ms,
            spanish=tenant.spanish,
            disclosure=call_lines.fixed(disclosure_line(tenant.name))
            if tenant.ai_disclosure_required
            else "",
        )

    def rule(self, keyword: str) -> TransferRule | None:
        for rule in self.transfers:
            if rule.keyword.lower() == keyword.lower():
                return rule
        return None


@dataclass(frozen=True, slots=True)
class Closing:
    kind: CloseKind
    target: str
    reason: str
    since: float
    fired: bool = False
    why: str = ""  # a transfer's reason in the model's words


# --- one response at a time ------------------------------------------------------------------


def request_response(
    state: CallState, instructions: str | None, commands: list[Command]
) -> CallState:
    if state.response_id is None and not state.response_requested:
        spoken = instructions
        if spoken is not None and state.language is not None:  # a fixed line, in their tongue
            spoken = call_lines.localize(spoken, state.language)
        commands.append(CreateResponse(spoken))
        return replace(
            state, response_requested=True, last_request=instructions, request_unconfirmed=True
        )
    return replace(state, queued=(*state.queued, instructions))


def on_response_created(state: CallState, event: rt.ResponseCreated) -> CallState:
    return replace(state, response_id=event.response_id, response_requested=False)


def on_response_done(
    state: CallState, event: rt.ResponseDone, now: float, commands: list[Command]
) -> CallState:
    if state.response_id == event.response_id:
        state = replace(state, response_id=None)
    # Any refusal of our last request would have arrived by now.
    state = replace(state, request_unconfirmed=False)
    if state.transfer_hint is not None and state.closing is None:
        rule = state.rules.rule(state.transfer_hint)
        state = replace(state, transfer_hint=None)
        if rule is not None and event.status == "completed":
            # The caller asked clearly and the model did not transfer: do it ourselves.
            state = begin_closing(
                state,
                "transfer",
                call_lines.handoff(rule.description or rule.keyword),
                rule.number,
                "transfer requested",
                now,
                commands,
            )
            commands.append(RecordTurn("system", f"transfer to {rule.keyword} (keyword match)"))
    if state.queued and state.response_id is None and not state.response_requested:
        first, rest = state.queued[0], state.queued[1:]
        state = replace(state, queued=rest)
        state = request_response(state, first, commands)
    return check_closing(state, now, commands)


def on_server_error(state: CallState, event: rt.ServerError) -> CallState:
    """The server refused a response.create because one was already running (its own, from
    voice activity, whose response.created may have reached us first): ask again when that
    one is done."""
    if event.code == BUSY_ERROR and state.request_unconfirmed:
        return replace(
            state,
            response_requested=False,
            request_unconfirmed=False,
            queued=(state.last_request, *state.queued),
        )
    return state


def on_reconnected(state: CallState, commands: list[Command]) -> CallState:
    """A new model session: nothing runs there. A request sent to the old one is asked again,
    an answer cut off mid-way is finished (not repeated), and the queue moves on."""
    queued = state.queued
    if state.response_requested:
        queued = (state.last_request, *queued)
    elif state.response_id is not None and state.closing is None:
        queued = (call_lines.RESUMED_CUT_OFF, *queued)
    state = replace(
        state, response_id=None, response_requested=False, request_unconfirmed=False, queued=()
    )
    for instructions in queued:
        state = request_response(state, instructions, commands)
    return state


# --- closing after the last words were heard ---------------------------------------------------


def begin_closing(
    state: CallState,
    kind: CloseKind,
    say: str,
    target: str,
    reason: str,
    now: float,
    commands: list[Command],
    *,
    why: str = "",
) -> CallState:
    if state.closing is not None or state.phase == "ended":
        return state
    closing = Closing(kind, target, reason, now, why=why)
    state = replace(state, closing=closing, transfer_hint=None)
    return request_response(state, say, commands)


def check_closing(state: CallState, now: float, commands: list[Command]) -> CallState:
    closing = state.closing
    if closing is None or closing.fired or state.phase != "live":
        return state
    quiet = (
        state.response_id is None
        and not state.response_requested
        and not state.queued
        and not state.pending
    )
    if not quiet and now - closing.since < CLOSING_TIMEOUT_S:
        return state
    outcome = "transferred" if closing.kind == "transfer" else "agent_hung_up"
    if closing.kind == "transfer" and warm_rule(state.rules.transfers, closing.target):
        outcome = "warm_transfer"  # the caller holds; memory.warm_transfers records the end
    commands.append(FinishAfterSpeech(closing.kind, closing.target, closing.why))
    return replace(
        state,
        closing=replace(closing, fired=True),
        outcome_hint=outcome,
        transferred_to=closing.target if closing.kind == "transfer" else None,
    )


def end_outcome(state: CallState, default: str) -> str:
    """What a stop or a closed stream means now: the intended outcome once a close was fired."""
    return state.outcome_hint or default


# --- timers, keypad, tools, transcripts --------------------------------------------------------


def on_tick(state: CallState, now: float) -> tuple[CallState, list[Command]]:
    commands: list[Command] = []
    if state.phase != "live":
        return state, commands
    started = state.stream_started_at if state.stream_started_at is not None else now
    if state.closing is None and now - started >= state.rules.max_call_s:
        state = begin_closing(
            state, "hang_up", call_lines.TIME_LIMIT, "", "max_duration", now, commands
        )
        return state, commands
    state = check_closing(state, now, commands)
    quiet = (
        state.closing is None
        and not state.caller_speaking
        and state.response_id is None
        and not state.response_requested
        and not state.queued
        and not state.pending
    )
    if not quiet:
        return replace(state, quiet_since=None), commands
    if state.quiet_since is None:
        return replace(state, quiet_since=now), commands
    if now - state.quiet_since < state.rules.silence_s:
        return state, commands
    if state.silence_prompts == 0:
        state = replace(state, silence_prompts=1, quiet_since=None)
        commands.append(RecordTurn("system", "silence: asked if the caller is still there"))
        return request_response(state, call_lines.STILL_THERE, commands), commands
    commands.append(RecordTurn("system", "silence: ending the call"))
    state = begin_closing(
        state, "hang_up", call_lines.SILENCE_GOODBYE, "", "silence", now, commands
    )
    return state, commands


def on_dtmf(state: CallState, digit: str, now: float) -> tuple[CallState, list[Command]]:
    if state.phase != "live":
        return state, []
    commands: list[Command] = [RecordTurn("dtmf", digit)]
    action = next((a for d, a in state.rules.dtmf if d == digit), None)
    if action is not None and action.action == "transfer":
        rule = state.rules.rule(action.target)
        if rule is not None:
            say = call_lines.handoff(rule.description or rule.keyword)
            state = begin_closing(
                state, "transfer", say, rule.number, f"key {digit}", now, commands
            )
            return state, commands
    if action is not None and action.action == "hang_up":
        state = begin_closing(
            state, "hang_up", call_lines.GOODBYE, "", f"key {digit}", now, commands
        )
        return state, commands
    commands.append(SendUserText(call_lines.keypad(digit)))
    return request_response(state, None, commands), commands


def on_tool_called(state: CallState, name: str) -> CallState:
    """The model called a tool (its result comes later, after the reply's response.done): a
    transfer it asked for is its own, so the keyword fallback stands down."""
    return replace(state, transfer_hint=None) if name == "transfer_call" else state


def on_tool_result(
    state: CallState, event: ToolResult, now: float
) -> tuple[CallState, list[Command]]:
    commands: list[Command] = [
        SendToolOutput(event.call_id, event.output),
        RecordTurn("tool", event.output, {"call_id": event.call_id, "name": event.name}),
    ]
    if event.close is not None:
        state = begin_closing(
            state, event.close, event.say, event.target, event.name, now, commands, why=event.why
        )
        return state, commands
    return request_response(state, None, commands), commands


def on_caller_transcript(state: CallState, text: str) -> CallState:
    language = detect_language(text) if state.rules.spanish else "en"
    if language is not None and language != state.language:
        state = replace(state, language=language)
    if state.closing is not None:
        return state
    rule = match_transfer_request(text, state.rules.transfers)
    return replace(state, transfer_hint=rule.keyword) if rule is not None else state


def end_event(state: CallState, outcome: str, detail: str) -> EndCall:
    return EndCall(outcome, detail, state.transferred_to)
