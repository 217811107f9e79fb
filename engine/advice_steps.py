"""The call state machine's step for the agent's own words (engine.advice_guard says which
words only a licensed agent may say): the answer's transcript is checked as it streams, and an
answer that quotes, advises on coverage or binds is cut at what the caller heard, as a barge-in
cuts it; the engine's own line offering a licensed agent (put through, or a message when
there is nobody to put them through to) is the next thing the caller hears. Each cut is a
system turn, a `guardrail` metric and, at the call's end, an audit entry (memory.calls).
Pure functions over `CallState`, used by `engine.call_state.step`.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from engine import advice_guard
from engine import realtime_codec as rt
from engine import turn_taking as tt
from engine.call_events import Command, Observe, RecordTurn
from prompts import call_lines

if TYPE_CHECKING:
    from engine.call_state import CallState


def on_agent_words(
    state: CallState, event: rt.AgentWords | rt.TextDelta, now: float, commands: list[Command]
) -> CallState:
    """Check the new words of an answer against what it said before them."""
    from engine.call_state import evolve  # the state's fast copy lives with it

    if state.phase == "ended" or event.response_id in state.cancelled or not event.delta:
        return state
    item_id, said = state.agent_words
    if item_id != event.item_id:
        said = ""
    kind = advice_guard.find(said, event.delta, spanish=state.rules.spanish)
    if kind is None:
        return evolve(state, agent_words=(event.item_id, advice_guard.tail(said + event.delta)))
    line = call_lines.ADVICE_TRANSFER if state.rules.transfers else call_lines.ADVICE_MESSAGE
    commands.append(
        RecordTurn(
            "system",
            f"guard-rail: the agent's answer was cut off ({kind}); a licensed agent offered",
            {"item_id": event.item_id, "guardrail": kind},
        )
    )
    commands.append(Observe("guardrail", 1, kind))
    state = replace(state, agent_words=("", ""), guardrails=(*state.guardrails, kind))
    return tt.say_instead(state, line, now, commands)
