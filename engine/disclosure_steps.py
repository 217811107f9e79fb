"""The call state machine's step for AI disclosure said, not only asked for. Pure.

When the tenant must disclose the AI (prompts.disclosure: its policy, its jurisdiction or the
platform's switch), the greeting the model is asked to say carries the disclosure. A model can
still paraphrase it away; so the call's first answer, as the model actually spoke it, is
checked, and one that left the disclosure out is followed by the engine's own disclosure line,
once, and a system turn. So is one the caller cut off before its disclosure was heard (known
when the next answer's transcript comes: the greeting's audio heard, against where in it the
disclosure ended). A resumed call (which disclosed in its first greeting) has no disclosure
rule. A function over `CallState`, used by `engine.call_state`.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from engine import call_control as ctl
from engine.audio import BYTES_PER_MS
from engine.call_events import Command, RecordTurn
from prompts.disclosure import disclosure_end

if TYPE_CHECKING:
    from engine.call_state import CallState


def on_agent_transcript(
    state: CallState, item_id: str, text: str, commands: list[Command]
) -> CallState:
    """The transcript of an answer: the call's first one is checked for the disclosure, and the
    next one checks that the caller did hear it."""
    if not state.first_answer_heard:
        state = replace(state, first_answer_heard=True)
        if not state.rules.disclosure:
            return state
        end = disclosure_end(text)
        if end is None:
            return _say(state, "AI disclosure: said after the greeting left it out", commands)
        return replace(state, disclosed_in=(item_id, end / max(1, len(text))))
    if state.disclosed_in is None or state.disclosed_in[0] == item_id:
        return state
    (greeting, share), state = state.disclosed_in, replace(state, disclosed_in=None)
    heard_ms = next((ms for item, ms in state.interrupted if item == greeting), None)
    spoken_ms = state.generated_bytes(greeting) / BYTES_PER_MS
    if heard_ms is None or heard_ms >= share * spoken_ms:
        return state
    return _say(state, "AI disclosure: said again, the caller cut the greeting before it", commands)


def _say(state: CallState, why: str, commands: list[Command]) -> CallState:
    commands.append(RecordTurn("system", why))
    return ctl.request_response(state, state.rules.disclosure, commands)
