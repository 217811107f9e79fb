"""When the call session replaces its model session, and the order it finishes a call in."""

from __future__ import annotations

from dataclasses import replace

from engine import realtime_codec as rt
from engine import twilio_codec as tw
from engine.call_state import CallState, PendingMark, new_call, step
from engine.session_rules import finish_steps, should_rotate

MAX_S = 3300.0


def live_call() -> CallState:
    state = new_call("CA1", "tok")
    state, _ = step(state, tw.Start("MZ1", "CA1", "AC1", {"token": "tok"}), 0.0)
    return state


def rotates(state: CallState, now: float, *, ready: bool = True) -> bool:
    return should_rotate(state, link_ready=ready, opened_at=0.0, now=now, max_s=MAX_S)


def test_a_session_is_rotated_after_its_time_at_a_quiet_moment() -> None:
    state = live_call()
    assert not rotates(state, MAX_S - 1)
    assert rotates(state, MAX_S + 1)


def test_no_rotation_while_an_answer_runs_or_plays_or_the_link_is_down() -> None:
    state = live_call()
    running, _ = step(state, rt.ResponseCreated("r1"), MAX_S)
    assert not rotates(running, MAX_S + 1)
    done, _ = step(running, rt.ResponseDone("r1", "completed"), MAX_S + 1)
    assert rotates(done, MAX_S + 2)
    playing = replace(done, pending=(PendingMark("m1", "i1", 0, 800, MAX_S),))
    assert not rotates(playing, MAX_S + 2)
    assert not rotates(done, MAX_S + 2, ready=False)
    assert not rotates(new_call("CA1", "tok"), MAX_S + 2)  # no stream yet


def test_a_call_finishes_with_its_outcome_recorded_before_its_sockets_close() -> None:
    steps = finish_steps("caller_hung_up", stream_started=True)
    assert steps == (
        "write_turns",
        "record_outcome",
        "enqueue_post_call",
        "close_sockets",
        "cancel_tasks",
        "write_late_turns",
        "report",
    )


def test_a_call_that_ended_before_its_stream_waits_for_it_unless_none_will_come() -> None:
    steps = finish_steps("model_failed", stream_started=False)
    assert steps.index("record_outcome") < steps.index("await_stream")
    assert steps.index("await_stream") < steps.index("close_sockets")
    assert "await_stream" not in finish_steps("stream_never_connected", stream_started=False)
    assert "await_stream" not in finish_steps("engine_shutdown", stream_started=False)
