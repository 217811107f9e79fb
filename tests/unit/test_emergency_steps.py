"""The state machine's emergency step (engine.emergency_steps), one state at a time: only a live
call not yet answered for an emergency is; the 911 line goes before anything queued; a transfer
whose redirect has gone out is not taken over."""

from __future__ import annotations

from dataclasses import replace

import pytest

from engine import call_events as ev
from engine.call_control import CallRules, Closing
from engine.call_state import CallState, new_call
from engine.config import TransferRule
from engine.emergency_steps import on_caller_words, on_emergency
from prompts import call_lines

EMERGENCY_LINE = TransferRule("emergency", "+15550009111", "our emergency claims line")
LIVE = replace(
    new_call("CA1", "token", CallRules(transfers=(EMERGENCY_LINE,))), phase="live", greeted=True
)


@pytest.mark.parametrize(
    ("state", "text"),
    [
        (LIVE, "I'd like to file a claim for last month's crash"),  # not an emergency
        (replace(LIVE, phase="waiting"), "someone's hurt"),  # no stream yet
        (replace(LIVE, phase="ended"), "someone's hurt"),
        (replace(LIVE, emergency=True), "someone's hurt"),  # answered once a call
    ],
)
def test_words_that_need_no_emergency_answer_change_nothing(state: CallState, text: str) -> None:
    commands: list[ev.Command] = []
    assert on_caller_words(state, text, 1.0, commands) == state
    assert commands == []


def test_an_emergency_on_a_quiet_line_asks_for_the_transfer_line_at_once() -> None:
    commands: list[ev.Command] = []
    state = on_caller_words(LIVE, "we need an ambulance", 1.0, commands)
    assert state.emergency
    assert state.closing == Closing("transfer", EMERGENCY_LINE.number, "emergency", 1.0)
    assert ev.Observe("emergency", 1) in commands
    assert [c.instructions for c in commands if isinstance(c, ev.CreateResponse)] == [
        call_lines.EMERGENCY_TRANSFER
    ]


def test_the_911_line_goes_before_what_is_queued_while_a_response_is_asked_for() -> None:
    waiting = replace(LIVE, response_requested=True, queued=("a line queued earlier",))
    commands: list[ev.Command] = []
    state = on_emergency(waiting, 1.0, commands)
    assert state.queued == (call_lines.EMERGENCY_TRANSFER, "a line queued earlier")
    assert not any(isinstance(c, ev.CreateResponse) for c in commands)


def test_a_transfer_already_redirected_is_not_taken_over() -> None:
    fired = Closing("transfer", "+15550001234", "claims", 0.5, fired=True)
    commands: list[ev.Command] = []
    state = on_emergency(replace(LIVE, closing=fired), 1.0, commands)
    assert state.closing == fired
    assert ev.RecordTurn("system", "emergency: told to hang up and dial 911", {}) in commands
    assert [c.instructions for c in commands if isinstance(c, ev.CreateResponse)] == [
        call_lines.EMERGENCY
    ]
