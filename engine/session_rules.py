"""The call session's own decisions beside the state machine: when to replace the model session
before the service's length cap, and in which order a call is finished. Pure; the call session
(actors/call_session.py) carries them out.
"""

from __future__ import annotations

from typing import Literal

from engine.call_state import CallState

# Steps of finishing a call, in the order the call session runs them:
# - write_turns: wait (bounded) for the call's row, then write what is pending;
# - record_outcome: the outcome on the call's row; the `<Connect action>` handler reads it
#   once the Twilio socket closes, so this comes before close_sockets;
# - enqueue_post_call: summary, personality, profile and memories, done by the memory pool;
# - await_stream: a call that ended before Twilio connected its stream (a refused model key)
#   lets the stream connect, so it is closed at once and Twilio asks the `<Connect action>`;
# - close_sockets: the Twilio socket, then the model's;
# - cancel_tasks: whatever the call still runs (its timers, readers, tools);
# - write_late_turns: one last try for turns written after the first write;
# - report: outcome and measurements to the pool.
FinishStep = Literal[
    "write_turns",
    "record_outcome",
    "enqueue_post_call",
    "await_stream",
    "close_sockets",
    "cancel_tasks",
    "write_late_turns",
    "report",
]

# Outcomes after which no stream is worth waiting for.
NO_STREAM_WAIT = frozenset({"stream_never_connected", "engine_shutdown"})


def should_rotate(
    state: CallState, *, link_ready: bool, opened_at: float, now: float, max_s: float
) -> bool:
    """Replace the model session once it has run `max_s`, at a quiet moment: no response
    running and nothing of the agent's still playing to the caller."""
    return (
        state.phase == "live"
        and link_ready
        and now - opened_at > max_s
        and state.response_id is None
        and not state.pending
    )


def finish_steps(outcome: str, stream_started: bool) -> tuple[FinishStep, ...]:
    """The order a call is finished in (see FinishStep)."""
    wait: tuple[FinishStep, ...] = ()
    if not stream_started and outcome not in NO_STREAM_WAIT:
        wait = ("await_stream",)
    return (
        "write_turns",
        "record_outcome",
        "enqueue_post_call",
        *wait,
        "close_sockets",
        "cancel_tasks",
        "write_late_turns",
        "report",
    )
