"""The state machine's recording-consent steps (engine.recording_steps), one state at a time:
recording starts only once the notice has played and nothing else is running or unheard; a
caller who declines stops a running recording, prevents one not started, and is answered."""

from __future__ import annotations

from dataclasses import replace

import pytest

from engine import call_events as ev
from engine.call_state import CallState, PendingMark, new_call
from engine.recording_consent import Recording
from engine.recording_steps import on_caller_words, start_after_notice

HEARD = replace(new_call("CA1", "token", recording="awaiting_notice"), phase="live", greeted=True)


def test_recording_starts_once_the_notice_has_played() -> None:
    commands: list[ev.Command] = []
    state = start_after_notice(HEARD, commands)
    assert state.recording == "after_notice"
    assert commands == [ev.SetRecording(on=True)]


@pytest.mark.parametrize(
    "state",
    [
        replace(HEARD, greeted=False),  # the greeting has not been sent
        replace(HEARD, response_id="resp-1"),  # the agent is still answering
        replace(HEARD, pending=(PendingMark("m1", "item-1", 0, 800, 0.0),)),  # not yet heard
        replace(HEARD, recording="from_start"),  # already recording from the answer
        replace(HEARD, recording="declined"),
    ],
)
def test_recording_waits_while_the_notice_may_be_unheard(state: CallState) -> None:
    commands: list[ev.Command] = []
    assert start_after_notice(state, commands) == state
    assert commands == []


@pytest.mark.parametrize("recording", ["from_start", "after_notice", "awaiting_notice"])
def test_a_caller_who_declines_is_not_recorded(recording: Recording) -> None:
    """A running recording is stopped; one not started yet is marked declined in the call's
    record all the same (the tenant actor stops nothing then), so no actor starts it later."""
    commands: list[ev.Command] = []
    state = on_caller_words(
        replace(HEARD, recording=recording), "please don't record this", commands
    )
    assert state.recording == "declined"
    assert ev.SetRecording(on=False) in commands
    assert ev.RecordTurn("system", "recording declined by the caller", {}) in commands
    assert any(isinstance(c, ev.CreateResponse) for c in commands)


@pytest.mark.parametrize(
    ("recording", "text"),
    [
        ("none", "please don't record this"),  # nothing to decline
        ("declined", "please don't record this"),  # declined once
        ("after_notice", "I'd like to report a claim"),
    ],
)
def test_other_words_change_nothing(recording: Recording, text: str) -> None:
    state = replace(HEARD, recording=recording)
    commands: list[ev.Command] = []
    assert on_caller_words(state, text, commands) == state
    assert commands == []
