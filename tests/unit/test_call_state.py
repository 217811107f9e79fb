"""The call state machine as scripted timelines: (time, event) in, (time, command) out.

Agent audio is counted in bytes of 8 kHz mu-law, 8 bytes a millisecond; chunk payloads are the
base64 of that many zero bytes so every size is exact. Times are binary fractions (0.25, 0.125)
so the expected milliseconds are exact.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import fields, replace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine import call_events as ev
from engine import call_state as cs
from engine import realtime_codec as rt
from engine import twilio_codec as tw
from engine.audio import BYTES_PER_MS, b64
from prompts import call_lines

TOKEN = "media-token-0123456789"
Timeline = Sequence[tuple[float, ev.CallEvent]]


def run(
    timeline: Timeline, state: cs.CallState | None = None
) -> tuple[cs.CallState, list[tuple[float, ev.Command]]]:
    """Feed the events in order; collect every command with the time it was produced."""
    state = state if state is not None else cs.new_call("CA1", TOKEN)
    out: list[tuple[float, ev.Command]] = []
    for now, event in timeline:
        state, commands = cs.step(state, event, now)
        out.extend((now, command) for command in commands)
    return state, out


def commands_of(log: list[tuple[float, ev.Command]]) -> list[ev.Command]:
    return [command for _, command in log]


def payload(ms: int, fill: int = 0) -> str:
    """base64 of `ms` milliseconds of audio."""
    return b64(bytes([fill]) * (ms * BYTES_PER_MS))


def start(token: str | None = TOKEN, stream_sid: str = "MZ1") -> tw.Start:
    params = {} if token is None else {"token": token}
    return tw.Start(
        stream_sid=stream_sid, call_sid="CA1", account_sid="AC1", custom_parameters=params
    )


def audio(ms: int, response_id: str = "r1", item_id: str = "i1", fill: int = 0) -> rt.AudioDelta:
    return rt.AudioDelta(response_id=response_id, item_id=item_id, delta=payload(ms, fill))


def speech(item_id: str = "u1") -> rt.SpeechStarted:
    return rt.SpeechStarted(audio_start_ms=0, item_id=item_id)


def live_at(t: float = 0.0) -> cs.CallState:
    state, log = run([(t, start())])
    assert state.phase == "live"
    assert log == []
    return state


def truncations(log: list[tuple[float, ev.Command]]) -> list[ev.Truncate]:
    return [c for _, c in log if isinstance(c, ev.Truncate)]


# --- the stream start -------------------------------------------------------------------------


def test_greeting_generated_before_the_stream_is_buffered_then_flushed_on_start() -> None:
    p1, p2 = payload(400, 1), payload(200, 2)
    state, log = run(
        [
            (0.125, rt.ResponseCreated("r1")),
            (0.25, rt.AudioDelta("r1", "i1", p1)),
            (0.375, rt.AudioDelta("r1", "i1", p2)),
        ]
    )
    assert log == []
    assert state.phase == "waiting"
    assert [c.payload for c in state.buffered] == [p1, p2]
    assert [(c.start_b, c.end_b) for c in state.buffered] == [(0, 3200), (3200, 4800)]

    state, log = run([(1.0, start())], state)
    assert log == [
        (1.0, ev.SendMedia(p1)),
        (1.0, ev.SendMark("m1")),
        (1.0, ev.Observe("greeting_ms", 0.0)),
        (1.0, ev.SendMedia(p2)),
        (1.0, ev.SendMark("m2")),
    ]
    assert state.phase == "live"
    assert state.stream_sid == "MZ1"
    assert state.stream_started_at == 1.0
    assert state.buffered == ()
    assert state.pending == (
        cs.PendingMark("m1", "i1", 0, 3200, 1.0),
        cs.PendingMark("m2", "i1", 3200, 4800, 1.0),
    )


def test_greeting_after_the_start_is_sent_at_once_and_timed_from_the_start() -> None:
    state, log = run([(1.375, audio(100)), (1.5, audio(100))], live_at(1.0))
    assert commands_of(log) == [
        ev.SendMedia(payload(100)),
        ev.SendMark("m1"),
        ev.Observe("greeting_ms", 375.0),
        ev.SendMedia(payload(100)),
        ev.SendMark("m2"),
    ]
    assert state.greeted


def test_buffered_audio_of_a_response_cancelled_before_the_start_is_not_played() -> None:
    state = replace(cs.new_call("CA1", TOKEN), cancelled=frozenset({"r0"}))
    state = replace(
        state,
        buffered=(
            cs.Chunk("r0", "i0", payload(10), 0, 80),
            cs.Chunk("r1", "i1", payload(20), 0, 160),
        ),
    )
    state, log = run([(2.0, start())], state)
    assert commands_of(log) == [
        ev.SendMedia(payload(20)),
        ev.SendMark("m1"),
        ev.Observe("greeting_ms", 0.0),
    ]
    assert state.buffered == ()


def test_start_with_a_wrong_token_is_closed_and_the_call_keeps_waiting() -> None:
    waiting, _ = run([(0.25, audio(100))])
    for bad in [start("media-token-0123456788"), start("x"), start(""), start(None)]:
        state, log = run([(1.0, bad)], waiting)
        assert log == [(1.0, ev.CloseStream(1008, "invalid stream token"))]
        assert state is waiting  # nothing else changed: no stream sid, audio still buffered
    # The real stream can still connect afterwards and gets the buffered greeting.
    state, log = run([(1.0, start("x")), (1.5, start())], waiting)
    assert commands_of(log) == [
        ev.CloseStream(1008, "invalid stream token"),
        ev.SendMedia(payload(100)),
        ev.SendMark("m1"),
        ev.Observe("greeting_ms", 0.0),
    ]
    assert state.phase == "live"
    assert state.stream_started_at == 1.5


def test_duplicate_start_is_ignored() -> None:
    state = live_at(1.0)
    again, log = run([(2.0, start(stream_sid="MZ2"))], state)
    assert log == [(2.0, ev.Observe("protocol_error", 1, "duplicate start"))]
    assert again is state
    assert again.stream_sid == "MZ1"


def test_start_after_the_call_ended_is_closed_normally() -> None:
    state, log = run([(0.5, tw.Stop("CA1")), (1.0, start())])
    assert commands_of(log) == [
        ev.EndCall("caller_hung_up"),
        ev.CloseStream(1000, "call already ended"),
    ]
    assert state.phase == "ended"


# --- the truncation arithmetic ----------------------------------------------------------------
#
# Chunks A (1000 ms, sent at 0.0), B (500 ms) and C (500 ms) of item i1, marks m1, m2, m3.


def three_chunks(b_sent: float = 0.25, c_sent: float = 0.5) -> cs.CallState:
    state, log = run(
        [
            (0.0, rt.ResponseCreated("r1")),
            (0.0, audio(1000)),
            (b_sent, audio(500)),
            (c_sent, audio(500)),
        ],
        live_at(0.0),
    )
    assert [c for c in commands_of(log) if isinstance(c, ev.SendMark)] == [
        ev.SendMark("m1"),
        ev.SendMark("m2"),
        ev.SendMark("m3"),
    ]
    assert state.pending == (
        cs.PendingMark("m1", "i1", 0, 8000, 0.0),
        cs.PendingMark("m2", "i1", 8000, 12000, b_sent),
        cs.PendingMark("m3", "i1", 12000, 16000, c_sent),
    )
    return state


def barge_in_ms(state: cs.CallState, timeline: Timeline) -> int:
    _, log = run(timeline, state)
    cuts = truncations(log)
    assert cuts[0].item_id == "i1"
    return cuts[0].audio_end_ms


def test_truncate_with_no_mark_returned_counts_from_the_first_send() -> None:
    assert barge_in_ms(three_chunks(), [(0.625, speech())]) == 625


def test_truncate_with_no_mark_returned_is_capped_at_the_first_chunk() -> None:
    # 1.5 s after the first send, but m1 has not come back: the caller heard at most chunk A.
    assert barge_in_ms(three_chunks(), [(1.5, speech())]) == 1000


def test_truncate_after_a_returned_mark_counts_from_the_mark() -> None:
    # m1 came back late, at 1.125 (B had been queued since 0.25): B started at 1.125.
    assert barge_in_ms(three_chunks(), [(1.125, tw.Mark("m1")), (1.375, speech())]) == 1250


def test_truncate_after_two_returned_marks() -> None:
    timeline: Timeline = [(1.0, tw.Mark("m1")), (1.5, tw.Mark("m2")), (1.625, speech())]
    assert barge_in_ms(three_chunks(), timeline) == 1625


def test_a_later_mark_proves_the_earlier_ones_played() -> None:
    timeline: Timeline = [(1.5, tw.Mark("m2")), (1.625, speech())]
    assert barge_in_ms(three_chunks(), timeline) == 1625


def test_truncate_after_an_underrun_counts_from_the_late_send() -> None:
    # m1 returned at 1.0, the buffer ran dry, B was only sent at 1.5: B started at 1.5.
    state, _ = run([(0.0, rt.ResponseCreated("r1")), (0.0, audio(1000))], live_at(0.0))
    timeline: Timeline = [(1.0, tw.Mark("m1")), (1.5, audio(500)), (1.75, speech())]
    assert barge_in_ms(state, timeline) == 1250


def test_truncate_is_capped_at_the_end_of_the_playing_chunk() -> None:
    # m1 back at 1.0; at 2.0 B (500 ms) would be 1000 ms in, but its mark is not back.
    assert barge_in_ms(three_chunks(), [(1.0, tw.Mark("m1")), (2.0, speech())]) == 1500


def test_truncate_rounds_partial_milliseconds_down() -> None:
    # 0.0625 s = 62.5 ms = 500 bytes -> 62 whole milliseconds heard.
    assert barge_in_ms(three_chunks(), [(0.0625, speech())]) == 62


def test_speech_before_the_chunk_was_sent_heard_nothing_of_it() -> None:
    state, _ = run([(1.0, audio(100))], live_at(0.0))
    assert barge_in_ms(state, [(0.5, speech())]) == 0


def test_barge_in_while_a_response_runs() -> None:
    state = three_chunks()
    state, log = run([(0.625, speech())], state)
    assert log == [
        (0.625, ev.ClearPlayback()),
        (0.625, ev.CancelResponse("r1")),
        (0.625, ev.Truncate("i1", 625)),
        (0.625, ev.Observe("barge_in", 1)),
    ]
    assert state.pending == ()
    assert state.cancelled == frozenset({"r1"})
    assert state.interrupted == (("i1", 625),)

    # The cancelled response's late audio is dropped, its marks returned by the clear ignored.
    after, log = run(
        [
            (0.75, audio(200)),
            (0.75, tw.Mark("m1")),
            (0.75, tw.Mark("m3")),
            (0.875, rt.ResponseDone("r1", "cancelled")),
        ],
        state,
    )
    assert log == []
    assert after.generated_bytes("i1") == 16000
    assert after.last_played_at is None
    assert after.response_id is None
    assert replace(after, response_id="r1") == state


def test_barge_in_after_the_response_finished_only_clears_and_truncates() -> None:
    state = three_chunks()
    state, log = run([(0.5, rt.ResponseDone("r1", "completed")), (0.625, speech())], state)
    assert commands_of(log) == [
        ev.ClearPlayback(),
        ev.Truncate("i1", 625),
        ev.Observe("barge_in", 1),
    ]


def test_second_barge_in_does_not_cancel_twice() -> None:
    state = three_chunks()
    state, _ = run([(0.625, speech())], state)
    # The response is still open (no response.done yet); new audio of a second item arrives.
    state, log = run(
        [(1.0, rt.ResponseCreated("r2")), (1.0, audio(300, "r2", "i2")), (1.125, speech())],
        state,
    )
    assert commands_of(log)[2:] == [
        ev.ClearPlayback(),
        ev.CancelResponse("r2"),
        ev.Truncate("i2", 125),
        ev.Observe("barge_in", 1),
    ]
    state, log = run([(1.25, audio(300, "r2", "i2")), (1.5, speech())], state)
    assert log == []  # r2 is cancelled: nothing new plays, nothing to cut


def test_speech_after_all_audio_played_cancels_the_response_still_generating() -> None:
    # Everything sent has played (m3 back), but r1 is still generating: its later audio must
    # not play over the caller.
    state = three_chunks()
    state, _ = run([(2.0, tw.Mark("m3"))], state)
    assert state.pending == ()
    after, log = run([(2.5, speech()), (2.625, audio(200))], state)
    assert commands_of(log) == [
        ev.ClearPlayback(),
        ev.CancelResponse("r1"),
        ev.Truncate("i1", 2000),
        ev.Observe("barge_in", 1),
    ]
    assert after.cancelled == frozenset({"r1"})
    assert after.caller_speaking


def test_speech_after_the_response_finished_and_played_produces_nothing() -> None:
    state = three_chunks()
    state, _ = run([(1.0, rt.ResponseDone("r1", "completed")), (2.0, tw.Mark("m3"))], state)
    after, log = run([(2.5, speech())], state)
    assert log == []
    assert after.cancelled == frozenset()
    assert after.caller_speaking  # only the caller's own turn has begun


def test_speech_before_the_response_made_a_sound_cancels_it_without_a_clear() -> None:
    # The caller was not done: nothing was heard, so nothing is cleared or cut; the answer is
    # asked for again when they stop.
    state = live_at(0.0)
    after, log = run([(0.0, rt.ResponseCreated("r1")), (0.5, speech())], state)
    assert log == [(0.5, ev.CancelResponse("r1"))]
    assert after.cancelled == frozenset({"r1"})
    after, log = run(
        [(0.75, rt.ResponseDone("r1", "cancelled")), (1.5, rt.SpeechStopped(1400))], after
    )
    assert log == [(1.5, ev.CreateResponse(None))]


def test_barge_in_before_the_stream_started_produces_nothing() -> None:
    state, log = run([(0.0, audio(500)), (0.25, speech())])
    assert log == []
    assert len(state.buffered) == 1


def test_barge_in_across_two_items_truncates_the_unheard_one_at_zero() -> None:
    state, _ = run(
        [
            (0.0, rt.ResponseCreated("r1")),
            (0.0, audio(500, "r1", "i1")),
            (0.25, rt.ResponseDone("r1", "completed")),
            (0.25, rt.ResponseCreated("r2")),
            (0.25, audio(500, "r2", "i2")),
            (0.25, audio(500, "r2", "i2")),
        ],
        live_at(0.0),
    )
    state, log = run([(0.375, speech())], state)
    assert commands_of(log) == [
        ev.ClearPlayback(),
        ev.CancelResponse("r2"),
        ev.Truncate("i1", 375),
        ev.Truncate("i2", 0),
        ev.Observe("barge_in", 1),
    ]
    assert state.interrupted == (("i1", 375), ("i2", 0))


def test_marks_returned_after_a_clear_do_not_move_the_clock() -> None:
    state = three_chunks()
    state, _ = run([(0.5, tw.Mark("m1")), (0.625, speech())], state)
    assert state.last_played_at == 0.5
    # A new response starts; the old marks come back late (Twilio returns them on clear).
    state, log = run(
        [
            (1.0, rt.ResponseCreated("r2")),
            (1.0, audio(1000, "r2", "i2")),
            (1.25, tw.Mark("m2")),
            (1.25, tw.Mark("m3")),
        ],
        state,
    )
    assert [c for c in commands_of(log) if isinstance(c, ev.SendMark)] == [ev.SendMark("m4")]
    assert state.last_played_at == 0.5
    assert [m.name for m in state.pending] == ["m4"]
    _, log = run([(1.5, speech())], state)
    assert truncations(log) == [ev.Truncate("i2", 500)]


def test_unknown_mark_is_ignored() -> None:
    state = three_chunks()
    after, log = run([(0.5, tw.Mark("zz"))], state)
    assert log == []
    assert after is state


def test_agent_transcript_of_an_interrupted_item_says_where() -> None:
    state = three_chunks()
    _, log = run(
        [
            (0.625, speech()),
            (0.75, rt.AgentTranscript("r1", "i1", "  Sure, we cover boats and  ")),
        ],
        state,
    )
    assert log[-1] == (
        0.75,
        ev.RecordTurn(
            "agent", "Sure, we cover boats and", {"item_id": "i1", "interrupted_at_ms": 625}
        ),
    )


def test_an_interruption_after_the_transcript_was_recorded_is_a_turn_of_its_own() -> None:
    # The model writes faster than it is heard: the whole transcript is in before the caller
    # cuts in, so the cut is recorded as a system turn naming the item and where.
    state, _ = run([(0.5, rt.AgentTranscript("r1", "i1", "Sure, we cover boats."))], three_chunks())
    _, log = run([(0.625, speech())], state)
    assert (
        0.625,
        ev.RecordTurn("system", "caller interrupted", {"item_id": "i1", "interrupted_at_ms": 625}),
    ) in log


def test_agent_transcript_of_a_whole_item_has_no_interruption() -> None:
    _, log = run([(1.0, rt.AgentTranscript("r1", "i1", "Goodbye."))], three_chunks())
    assert log == [(1.0, ev.RecordTurn("agent", "Goodbye.", {"item_id": "i1"}))]


def test_blank_agent_transcript_is_ignored() -> None:
    _, log = run([(1.0, rt.AgentTranscript("r1", "i1", " \n"))], three_chunks())
    assert log == []


# --- reply latency ----------------------------------------------------------------------------


def test_reply_latency_from_caller_stop_to_first_audio() -> None:
    state, log = run(
        [
            (2.0, rt.SpeechStopped(1900)),
            (2.125, rt.ResponseCreated("r1")),
            (2.25, audio(100)),
            (2.375, audio(100)),
            (3.0, rt.AgentTranscript("r1", "i1", "Sure.")),
        ],
        live_at(0.0),
    )
    observed = [c for c in commands_of(log) if isinstance(c, ev.Observe) and c.metric == "turn_ms"]
    assert observed == [ev.Observe("turn_ms", 250.0)]
    assert commands_of(log)[0] == ev.CreateResponse(None)
    assert log[-1] == (
        3.0,
        ev.RecordTurn(
            "agent",
            "Sure.",
            {"item_id": "i1", "latency_ms": 250.0, "model_ms": 250.0, "sent_ms": 250.0},
        ),
    )
    assert state.turn.timing is not None
    assert state.turn.timing.heard_ms is None


def test_caller_speaking_again_cancels_the_latency_measurement() -> None:
    _, log = run(
        [(2.0, rt.SpeechStopped(1900)), (2.125, speech()), (2.5, audio(100))],
        live_at(0.0),
    )
    assert not [c for c in commands_of(log) if isinstance(c, ev.Observe) and c.metric == "turn_ms"]


# --- ending -----------------------------------------------------------------------------------


def test_stop_ends_the_call_exactly_once() -> None:
    state, log = run([(5.0, tw.Stop("CA1")), (5.5, tw.Stop("CA1"))], live_at(0.0))
    assert log == [(5.0, ev.EndCall("caller_hung_up"))]
    assert state.phase == "ended"
    assert state.outcome == "caller_hung_up"


def test_model_closed_ends_the_call() -> None:
    state, log = run(
        [(1.0, ev.ModelClosed(permanent=True, reason="401")), (2.0, tw.Stop("CA1"))],
        live_at(0.0),
    )
    assert commands_of(log) == [ev.EndCall("model_failed", "401")]
    assert state.outcome == "model_failed"


def test_stream_closed_ends_the_call() -> None:
    state, log = run([(1.0, ev.StreamClosed("broke (1006)"))], live_at(0.0))
    assert commands_of(log) == [ev.EndCall("stream_lost", "broke (1006)")]
    assert state.outcome == "stream_lost"


def test_no_stream_ends_only_a_waiting_call() -> None:
    state, log = run([(10.0, ev.NoStream())])
    assert commands_of(log) == [ev.EndCall("stream_never_connected")]
    assert state.phase == "ended"
    live = live_at(0.0)
    after, log = run([(10.0, ev.NoStream())], live)
    assert log == []
    assert after is live


def test_audio_after_the_end_is_dropped() -> None:
    state, _ = run([(1.0, tw.Stop("CA1"))], live_at(0.0))
    after, log = run([(1.5, audio(100))], state)
    assert log == []
    assert after is state


# --- errors, DTMF, transcripts ----------------------------------------------------------------


def test_benign_server_error_produces_nothing() -> None:
    error = rt.ServerError(
        "response_cancel_not_active", "no active response", "invalid_request_error"
    )
    _, log = run([(1.0, error)], live_at(0.0))
    assert log == []


def test_other_server_errors_are_observed() -> None:
    _, log = run(
        [
            (1.0, rt.ServerError("rate_limit_exceeded", "slow down", "invalid_request_error")),
            (2.0, rt.ServerError("", "boom", "server_error")),
        ],
        live_at(0.0),
    )
    assert commands_of(log) == [
        ev.Observe("model_error", 1, "rate_limit_exceeded"),
        ev.Observe("model_error", 1, "server_error"),
    ]


def test_failed_response_is_observed_and_clears_the_running_response() -> None:
    state, log = run(
        [(1.0, rt.ResponseCreated("r1")), (2.0, rt.ResponseDone("r1", "failed"))], live_at(0.0)
    )
    assert commands_of(log) == [ev.Observe("model_error", 1, "response failed")]
    assert state.response_id is None


def test_done_of_another_response_keeps_the_running_one() -> None:
    state, _ = run(
        [(1.0, rt.ResponseCreated("r2")), (2.0, rt.ResponseDone("r1", "completed"))], live_at(0.0)
    )
    assert state.response_id == "r2"


def test_dtmf_is_recorded_only_while_live() -> None:
    waiting = cs.new_call("CA1", TOKEN)
    _, log = run([(0.5, tw.Dtmf("1"))], waiting)
    assert log == []
    state, log = run([(1.0, tw.Dtmf("5")), (1.5, tw.Dtmf("#"))], live_at(0.0))
    assert commands_of(log) == [
        ev.RecordTurn("dtmf", "5"),
        ev.SendUserText("The caller pressed 5 on their keypad."),
        ev.CreateResponse(None),
        ev.RecordTurn("dtmf", "#"),
        ev.SendUserText("The caller pressed # on their keypad."),  # its response waits
    ]
    assert state.queued == (None,)
    _, log = run([(2.0, tw.Stop("CA1")), (2.5, tw.Dtmf("9"))], state)
    assert commands_of(log) == [ev.EndCall("caller_hung_up")]


def test_caller_transcript() -> None:
    _, log = run(
        [
            (1.0, rt.CallerTranscript("u1", "")),
            (1.5, rt.CallerTranscript("u2", "   \t")),
            (2.0, rt.CallerTranscript("u3", "  I'd like a quote. ")),
        ],
        live_at(0.0),
    )
    assert log == [(2.0, ev.RecordTurn("caller", "I'd like a quote.", {"item_id": "u3"}))]


def test_media_token_is_not_in_the_repr() -> None:
    assert TOKEN not in repr(cs.new_call("CA1", TOKEN))


# --- property: the truncate point is bounded by what was generated and what marks proved -------


@st.composite
def playbacks(draw: st.DrawFn) -> tuple[list[int], int, Timeline, float]:
    """Chunk sizes in bytes, how many marks came back, the timeline of sends and mark
    returns, and a barge-in time."""
    sizes = draw(st.lists(st.integers(1, 4000), min_size=1, max_size=12))
    gaps = st.integers(0, 1500).map(lambda ms: ms / 1000)
    events: list[tuple[float, int, ev.CallEvent]] = []
    t = 0.0
    send_times = []
    for n in sizes:
        t += draw(gaps)
        send_times.append(t)
        events.append((t, 0, rt.AudioDelta("r1", "i1", b64(bytes(n)))))
    returned = draw(st.integers(0, len(sizes)))
    back = 0.0
    for i in range(returned):
        back = max(back, send_times[i]) + draw(gaps)
        events.append((back, 1, tw.Mark(f"m{i + 1}")))
    # Sends before returns at equal times: a mark cannot come back before it was sent.
    events.sort(key=lambda e: (e[0], e[1]))
    barge = max(e[0] for e in events) + draw(gaps)
    return sizes, returned, [(when, event) for when, _, event in events], barge


@settings(max_examples=300, deadline=None)
@given(playbacks())
def test_truncate_is_bounded_by_generated_and_proven_audio(
    case: tuple[list[int], int, Timeline, float],
) -> None:
    sizes, returned, timeline, barge = case
    state, _ = run([(0.0, rt.ResponseCreated("r1")), *timeline], live_at(0.0))
    assert len(state.pending) == len(sizes) - returned
    proven = sum(sizes[:returned])
    _, log = run([(barge, speech())], state)
    cuts = truncations(log)
    if returned == len(sizes):  # all played, the response still running: cut at its end
        assert cuts == [ev.Truncate("i1", sum(sizes) // BYTES_PER_MS)]
        return
    assert len(cuts) == 1
    assert cuts[0].item_id == "i1"
    heard_ms = cuts[0].audio_end_ms
    assert heard_ms * BYTES_PER_MS <= sum(sizes)
    assert heard_ms >= proven // BYTES_PER_MS
    # And never past the chunk whose mark is outstanding.
    assert heard_ms * BYTES_PER_MS <= proven + sizes[returned]


# --- a slow tool ------------------------------------------------------------------------------


def test_a_slow_tool_gets_a_filler_line_now_or_after_the_running_answer() -> None:
    idle = live_at(0.0)
    _, log = run([(1.0, ev.ToolSlow("take_message"))], idle)
    assert commands_of(log) == [
        ev.Observe("filler", 1, "take_message"),
        ev.CreateResponse(call_lines.FILLER),
    ]
    _, log = run(
        [
            (1.0, rt.ResponseCreated("r1")),
            (1.5, ev.ToolSlow("take_message")),
            (2.0, rt.ResponseDone("r1", "completed")),
        ],
        idle,
    )
    assert log == [
        (1.5, ev.Observe("filler", 1, "take_message")),
        (2.0, ev.CreateResponse(call_lines.FILLER)),
    ]


def test_evolve_is_replace_for_every_field() -> None:
    state = cs.new_call("CA1", "tok")
    for f in fields(state):
        change: dict[str, Any] = {f.name: ("changed", f.name)}
        assert cs.evolve(state, **change) == replace(state, **change)
    assert cs.evolve(state) == state
    with pytest.raises(KeyError):
        cs.evolve(state, no_such_field=1)
