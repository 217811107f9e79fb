"""The call state machine's step for an emergency (engine.emergency says which words are one and
which transfer target is the agency's emergency line): whatever the agent is saying stops, the
engine's own 911 line is said next, once a call, and a call with an emergency line is then
transferred there. A pure function over `CallState`, used by `engine.call_state.step`.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from engine import turn_taking as tt
from engine.call_control import Closing
from engine.call_events import Command, Observe, RecordTurn
from engine.emergency import EMERGENCY_REASON, emergency_rule, is_emergency
from prompts import call_lines

if TYPE_CHECKING:
    from engine.call_state import CallState


def on_caller_words(state: CallState, text: str, now: float, commands: list[Command]) -> CallState:
    """The caller's words on a live call name an emergency not yet answered: answer it."""
    if state.emergency or state.phase != "live" or not is_emergency(text):
        return state
    return on_emergency(state, now, commands)


def on_emergency(state: CallState, now: float, commands: list[Command]) -> CallState:
    """Someone is hurt or in danger: whatever the agent is saying stops, and the next thing the
    caller hears is the engine's own line to hang up and dial 911 (once a call). When the agency
    has an emergency line (engine.emergency.emergency_rule) the call is then transferred there,
    once that line was heard, through the usual transfer; a closing already under way gives
    way to it unless its redirect has gone out."""
    rule = emergency_rule(state.rules.transfers)
    line = call_lines.EMERGENCY
    if rule is not None and (state.closing is None or not state.closing.fired):
        line = call_lines.EMERGENCY_TRANSFER
        closing = Closing("transfer", rule.number, EMERGENCY_REASON, now)
        state = replace(state, closing=closing, transfer_hint=None)
        commands.append(
            RecordTurn(
                "system",
                "emergency: told to hang up and dial 911, then transferred to the emergency line",
                {},
            )
        )
    else:
        commands.append(RecordTurn("system", "emergency: told to hang up and dial 911", {}))
    commands.append(Observe("emergency", 1))
    return tt.say_instead(replace(state, emergency=True), line, now, commands)
