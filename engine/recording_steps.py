"""The call state machine's steps for recording consent (engine.recording_consent says who hears
the notice first and which words decline): a recording that waits for the notice starts once
it has played, and a caller who declines gets an unrecorded call and the agent's confirmation.
Pure functions over `CallState`, used by `engine.call_state.step`.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from engine import call_control as ctl
from engine.call_events import Command, RecordTurn, SetRecording
from engine.recording_consent import Recording, declines_recording
from prompts import call_lines

if TYPE_CHECKING:
    from engine.call_state import CallState


def start_after_notice(state: CallState, commands: list[Command]) -> CallState:
    """The greeting, which carries the recording notice, has played to its end: recording
    starts now, not before."""
    if (
        state.recording == "awaiting_notice"
        and state.greeted
        and state.response_id is None
        and not state.pending
    ):
        commands.append(SetRecording(on=True))
        return replace(state, recording="after_notice")
    return state


def resumed(state: CallState, recording: Recording, commands: list[Command]) -> CallState:
    """A call resumed on a new actor takes up its recording as the call's record has it (only
    the first word on it counts: a resumed call begins with none)."""
    if state.recording != "none":
        return state
    return start_after_notice(replace(state, recording=recording), commands)


def on_caller_words(state: CallState, text: str, commands: list[Command]) -> CallState:
    """When the caller's words decline the recording: a running one stops, one not started
    never starts (the call's record says so, for an actor that may resume the call), and the
    agent confirms it."""
    if state.recording in ("none", "declined") or not declines_recording(text):
        return state
    commands.append(SetRecording(on=False))
    commands.append(RecordTurn("system", "recording declined by the caller", {}))
    state = replace(state, recording="declined")
    return ctl.request_response(state, call_lines.RECORDING_DECLINED, commands)
