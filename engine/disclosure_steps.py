"""The call state machine's step for AI disclosure said, not only asked for. Pure.

When the tenant must disclose the AI (prompts.disclosure: its policy, its jurisdiction or the
platform's switch), the greeting the model is asked to say carries the disclosure. A model can
still paraphrase it away; so the call's first answer, as the model actually spoke it, is
checked (`discloses_ai`), and one that left the disclosure out is followed by the engine's own
disclosure line, once, and a system turn. A resumed call (which disclosed in its first
greeting) has no disclosure rule. A function over `CallState`, used by `engine.call_state`.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from engine import call_control as ctl
from engine.call_events import Command, RecordTurn
from prompts.disclosure import discloses_ai

if TYPE_CHECKING:
    from engine.call_state import CallState


def on_first_answer(state: CallState, text: str, commands: list[Command]) -> CallState:
    """The transcript of an answer: the call's first one is checked for the disclosure."""
    if state.first_answer_heard:
        return state
    state = replace(state, first_answer_heard=True)
    if not state.rules.disclosure or discloses_ai(text):
        return state
    commands.append(RecordTurn("system", "AI disclosure: said after the greeting left it out"))
    return ctl.request_response(state, state.rules.disclosure, commands)
