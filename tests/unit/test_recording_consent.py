"""Recording consent, pure: which callers hear the notice before recording starts (the tenant's
rule, its state, the caller's area code) and which words decline the recording."""

from __future__ import annotations

from dataclasses import replace

import pytest

from engine import call_events as ev
from engine import call_state as cs
from engine import realtime_codec as rt
from engine import twilio_codec as tw
from engine.recording_consent import (
    Recording,
    all_party_state,
    declines_recording,
    initial_recording,
    notice_first,
    resumed_recording,
    stored_recording,
)
from prompts import call_lines
from tests.unit.session_fakes import TENANT, Call, settle
from tests.unit.test_call_state import audio, run, start


@pytest.mark.parametrize(
    ("number", "state"),
    [
        ("+14155550100", "CA"),
        ("+13125550100", "IL"),
        ("+12155550100", "PA"),
        ("+16035550100", "NH"),
        ("+12125550100", None),  # New York: one-party
        ("+15125550100", None),  # Texas: one-party
        ("+442071234567", None),  # not a North American number
        ("anonymous", None),
    ],
)
def test_an_area_code_names_its_all_party_state(number: str, state: str | None) -> None:
    assert all_party_state(number) == state


def test_the_tenants_rule_decides_who_hears_the_notice_first() -> None:
    texas, california = "+15125550100", "+14155550100"
    assert notice_first("always", caller_number=texas, jurisdiction="TX")
    assert notice_first("all_party_states", caller_number=california, jurisdiction="TX")
    assert notice_first("all_party_states", caller_number=texas, jurisdiction="FL")
    assert not notice_first("all_party_states", caller_number=texas, jurisdiction="TX")
    assert not notice_first("all_party_states", caller_number=texas, jurisdiction=None)
    assert notice_first("something new", caller_number=texas, jurisdiction="TX")


@pytest.mark.parametrize(
    "text",
    [
        "Please don't record this call",
        "I do not want to be recorded",
        "no recording please",
        "I don't consent to that",
        "can you stop recording",
        "por favor no grabe la llamada",
    ],
)
def test_words_that_decline_the_recording(text: str) -> None:
    assert declines_recording(text)


@pytest.mark.parametrize(
    "text",
    [
        "that's fine, go ahead",
        "I recorded the damage on my phone",
        "do you have a record of my last claim?",
        "I'd like to report an accident",
    ],
)
def test_words_that_do_not(text: str) -> None:
    assert not declines_recording(text)


# --- through the call's state machine ----------------------------------------------------------


def _greeting_played(recording: Recording) -> tuple[cs.CallState, list[ev.Command]]:
    """The greeting (with the notice) generated, sent, done and every mark back."""
    state = cs.new_call("CA1", "media-token-0123456789", recording=recording)
    state, log = run(
        [
            (0.0, start()),
            (0.1, rt.ResponseCreated("r1")),
            (0.1, audio(500)),
            (0.2, rt.ResponseDone("r1", "completed")),
        ],
        state,
    )
    assert ev.SetRecording(on=True) not in [c for _, c in log]  # the notice is still playing
    state, more = run([(0.7, tw.Mark("m1"))], state)
    return state, [c for _, c in log + more]


def test_recording_starts_once_the_notice_has_played() -> None:
    state, commands = _greeting_played("awaiting_notice")
    assert commands.count(ev.SetRecording(on=True)) == 1
    assert state.recording == "after_notice"
    state, log = run([(2.0, rt.ResponseCreated("r2")), (2.1, audio(200))], state)
    state, log = run([(2.2, rt.ResponseDone("r2", "completed")), (2.5, tw.Mark("m2"))], state)
    assert ev.SetRecording(on=True) not in [c for _, c in log]  # once


def test_a_call_recorded_from_the_answer_starts_nothing() -> None:
    state, commands = _greeting_played("from_start")
    assert not [c for c in commands if isinstance(c, ev.SetRecording)]
    assert state.recording == "from_start"


def test_a_caller_who_declines_gets_the_recording_stopped_and_hears_it_confirmed() -> None:
    state, _ = _greeting_played("awaiting_notice")
    state, log = run([(3.0, rt.CallerTranscript("u1", "Please don't record this call"))], state)
    commands = [c for _, c in log]
    assert ev.SetRecording(on=False) in commands
    assert ev.CreateResponse(call_lines.RECORDING_DECLINED) in commands
    assert state.recording == "declined"
    assert stored_recording(state.recording) == "declined"


def test_a_caller_who_declines_during_the_notice_is_never_recorded() -> None:
    state = cs.new_call("CA1", "media-token-0123456789", recording="awaiting_notice")
    state, log = run(
        [
            (0.0, start()),
            (0.1, rt.ResponseCreated("r1")),
            (0.1, audio(500)),
            (0.3, rt.CallerTranscript("u1", "no recording please")),
            (0.4, rt.ResponseDone("r1", "completed")),
            (0.7, tw.Mark("m1")),
        ],
        state,
    )
    # nothing was started: the decline is only marked in the call's record (so an actor that
    # resumes the call starts nothing either)
    assert [c for _, c in log if isinstance(c, ev.SetRecording)] == [ev.SetRecording(on=False)]
    assert state.recording == "declined"


def test_how_a_call_begins_its_recording() -> None:
    california, texas = "+14155550100", "+15125550100"
    begin = initial_recording
    assert begin(record_calls=False, rule="always", caller_number=california,
                 jurisdiction=None, attempt=0) == "none"  # fmt: skip
    assert begin(record_calls=True, rule="always", caller_number=texas,
                 jurisdiction="TX", attempt=0) == "awaiting_notice"  # fmt: skip
    assert begin(record_calls=True, rule="all_party_states", caller_number=california,
                 jurisdiction="TX", attempt=0) == "awaiting_notice"  # fmt: skip
    assert begin(record_calls=True, rule="all_party_states", caller_number=texas,
                 jurisdiction="TX", attempt=0) == "from_start"  # fmt: skip
    assert begin(record_calls=True, rule="always", caller_number=texas,
                 jurisdiction="TX", attempt=1) == "none"  # fmt: skip
    assert stored_recording("awaiting_notice") == "not_started"
    assert stored_recording("none") is None


async def test_a_session_starts_and_stops_the_recording_through_call_control() -> None:
    tenant = replace(TENANT, record_calls=True, recording_consent="This call is recorded.")
    call = Call(tenant)
    await call.live()
    await call.model.frame("response.created", response={"id": "r1"})
    await call.model.frame(
        "response.output_audio.delta", response_id="r1", item_id="i1", delta="AAAA"
    )
    await call.model.frame("response.done", response={"id": "r1", "status": "completed"})
    assert ("set_recording", True) not in call.log
    marks = [f["mark"]["name"] for f in call.twilio.sent if f["event"] == "mark"]
    call.twilio.push("mark", streamSid="MZ1", mark={"name": marks[-1]})
    await settle(0.05)
    assert ("set_recording", True) in call.log
    await call.model.frame(
        "conversation.item.input_audio_transcription.completed",
        item_id="u1",
        transcript="I do not want to be recorded",
    )
    await settle(0.05)
    assert call.log.names().count("set_recording") == 2
    assert ("set_recording", False) in call.log
    await call.session.shutdown()
    await call.end()
    assert call.memory.ends[-1].recording == "declined"


# --- a call resumed on a new actor -------------------------------------------------------------


def test_a_resumed_call_takes_its_recording_from_the_calls_record() -> None:
    assert resumed_recording("not_started") == "awaiting_notice"  # owed: after the notice
    assert resumed_recording("after_notice") == "after_notice"
    assert resumed_recording("from_start") == "from_start"
    assert resumed_recording("declined") == "declined"
    assert resumed_recording(None) == "none"


def _resumed(recording: Recording) -> cs.CallState:
    state = cs.new_call("CA1", "media-token-0123456789")  # a resumed call begins with none
    state, log = run([(0.0, ev.RecordingResumed(recording)), (0.0, start())], state)
    assert log == []
    return state


def _first_reply_played(state: cs.CallState) -> tuple[cs.CallState, list[ev.Command]]:
    state, log = run(
        [
            (0.1, rt.ResponseCreated("r1")),
            (0.1, audio(500)),
            (0.2, rt.ResponseDone("r1", "completed")),
            (0.7, tw.Mark("m1")),
        ],
        state,
    )
    return state, [c for _, c in log]


def test_a_resumed_call_owed_its_recording_starts_it_once_its_first_reply_played() -> None:
    state, commands = _first_reply_played(_resumed("awaiting_notice"))
    assert commands.count(ev.SetRecording(on=True)) == 1
    state, log = run([(1.0, ev.RecordingResumed("awaiting_notice"))], state)  # counts once
    assert log == []
    assert state.recording == "after_notice"


@pytest.mark.parametrize("recording", ["after_notice", "from_start", "declined"])
def test_a_resumed_call_never_starts_a_recording_started_or_declined(
    recording: Recording,
) -> None:
    state, commands = _first_reply_played(_resumed(recording))
    assert ev.SetRecording(on=True) not in commands
    assert state.recording == recording


def test_a_resumed_call_recording_can_still_be_declined() -> None:
    state, _ = _first_reply_played(_resumed("after_notice"))
    state, log = run([(2.0, rt.CallerTranscript("u1", "please don't record this"))], state)
    assert ev.SetRecording(on=False) in [c for _, c in log]
    assert state.recording == "declined"


NOTICE = "This call is recorded."


@pytest.mark.parametrize(
    ("stored", "notice_said", "started"),
    [("not_started", True, True), ("after_notice", False, False), ("declined", False, False)],
)
async def test_a_resumed_session_reads_its_recording_and_says_an_owed_notice_first(
    stored: str, notice_said: bool, started: bool
) -> None:
    tenant = replace(TENANT, record_calls=True, recording_consent=NOTICE)
    call = Call(tenant, attempt=1, recording=stored)
    await call.live()
    assert ("recording_on_call", "CA1") in call.log
    [create] = [f for f in call.model.sent if f["type"] == "response.create"]
    assert (NOTICE in str(create)) is notice_said
    await call.model.frame("response.created", response={"id": "r1"})
    await call.model.frame(
        "response.output_audio.delta", response_id="r1", item_id="i1", delta="AAAA"
    )
    await call.model.frame("response.done", response={"id": "r1", "status": "completed"})
    marks = [f["mark"]["name"] for f in call.twilio.sent if f["event"] == "mark"]
    call.twilio.push("mark", streamSid="MZ1", mark={"name": marks[-1]})
    await settle(0.05)
    assert (("set_recording", True) in call.log) is started
    assert call.log.names().count("set_recording") == int(started)
    await call.session.shutdown()
    await call.end()


async def test_a_first_attempt_never_reads_a_recording_record() -> None:
    tenant = replace(TENANT, record_calls=True, recording_consent=NOTICE)
    call = Call(tenant, recording="declined")
    await call.live()
    assert "recording_on_call" not in call.log.names()
    await call.session.shutdown()
    await call.end()
