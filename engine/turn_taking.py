"""Turn-taking: when the caller's voice interrupts the agent, when the caller's turn is answered,
and what each answer's latency is made of. Pure functions over `CallState`, used by
`engine.call_state.step`; the clock is passed in.

The realtime model detects speech (server or semantic VAD) but neither interrupts the agent nor
answers on its own (`interrupt_response` and `create_response` are off): the engine decides.
While the agent is talking - its audio still playing at the caller, or its response still
generating audio - a caller sound is only an interruption once the caller has spoken for the
tenant's `min_interrupt_ms` (voiced audio, counted by the session's speech meter, which reports
`CallerSpeechLong`), or, for a shorter utterance, once its transcript holds a word that is not a
backchannel ("uh-huh", "yeah", "sí"). A cough or an "mm-hmm" leaves the agent talking. When the
caller stops and the turn is theirs, the engine asks for the response.

A response that has not made a sound yet is cancelled as soon as the caller speaks (nothing was
heard, so nothing is cleared or cut): the caller was not done, and the answer is asked for again
when they are.

Latency of an answer, from the moment the caller stopped: the model's first output, the first
audio sent to Twilio, and the first audio heard (when the first chunk's mark came back, less
that chunk's length).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from engine import call_control as ctl
from engine import realtime_codec as rt
from engine.audio import BYTES_PER_MS
from engine.call_events import (
    CancelResponse,
    ClearPlayback,
    Command,
    MeterSpeech,
    Observe,
    RecordTurn,
    Truncate,
)

if TYPE_CHECKING:
    from engine.call_state import CallState

# Words that acknowledge without taking the turn, in English and Spanish.
BACKCHANNELS = frozenset(
    {
        "uh-huh", "uh huh", "uhhuh", "mm-hmm", "mm hmm", "mmhmm", "mhm", "hmm", "mm", "hm",
        "uh", "um", "ah", "oh", "yeah", "yes", "yep", "yup", "ok", "okay", "right", "sure",
        "alright", "all right", "i see", "got it", "cool", "great", "nice", "wow", "aha",
        "sí", "si", "ajá", "aja", "claro", "vale", "ya", "bueno", "ah ya", "eh", "mmm",
    }
)  # fmt: skip
ANY_ITEM = "*"  # a stop without an item id: the next transcript decides
_WORDS = re.compile(r"[^\W\d_]+(?:-[^\W\d_]+)*")


def is_backchannel(transcript: str) -> bool:
    """True when the transcript holds nothing but acknowledgements (or nothing at all): such
    an utterance does not take the turn from a talking agent."""
    words = [w.lower() for w in _WORDS.findall(transcript)]
    if not words:
        return True
    text = " ".join(words)
    if text in BACKCHANNELS:
        return True
    return all(w in BACKCHANNELS for w in words)


@dataclass(frozen=True, slots=True)
class TurnTiming:
    """One answer's latency, in ms after the caller stopped (None: not reached yet)."""

    stopped_at: float
    item_id: str = ""
    model_ms: float | None = None
    sent_ms: float | None = None
    heard_ms: float | None = None
    first_mark: str = ""
    first_chunk_ms: float = 0.0


@dataclass(frozen=True, slots=True)
class TurnState:
    contested: bool = False  # the caller speaks over the agent; not an interruption (yet)
    short_item: str = ""  # a short utterance over the agent: its transcript decides
    audio_response: str = ""  # the running response that has made sound
    timing: TurnTiming | None = None  # the answer being timed
    timings: tuple[TurnTiming, ...] = ()  # finished answers, newest last (a few)


def agent_audible(state: CallState) -> bool:
    """The caller hears the agent now, or will: audio still playing, or the running response
    already generating audio (its next chunks are on their way)."""
    if state.pending:
        return True
    running = state.response_id
    return (
        running is not None
        and running not in state.cancelled
        and state.turn.audio_response == running
    )


def on_speech_started(state: CallState, now: float) -> tuple[CallState, list[Command]]:
    state = replace(
        state,
        caller_speaking=True,
        silence_prompts=0,
        quiet_since=None,
        turn=replace(state.turn, timing=None, short_item="", contested=False),
    )
    if state.phase != "live":
        return state, []
    commands: list[Command] = []
    if agent_audible(state):
        min_ms = state.rules.min_interrupt_ms
        if min_ms <= 0:
            return interrupt(state, now, commands), commands
        commands.append(MeterSpeech(min_ms))
        return replace(state, turn=replace(state.turn, contested=True)), commands
    running = state.response_id
    if running is not None and running not in state.cancelled and state.closing is None:
        # Not a sound of it was heard yet: the caller was not done; ask again when they are.
        commands.append(CancelResponse(running))
        state = replace(state, cancelled=state.cancelled | {running})
    return state, commands


def on_long_speech(state: CallState, now: float) -> tuple[CallState, list[Command]]:
    """The speech meter counted `min_interrupt_ms` of the caller's voice over the agent."""
    if not state.turn.contested or state.phase != "live":
        return state, []
    commands: list[Command] = []
    state = replace(state, turn=replace(state.turn, contested=False))
    if agent_audible(state):
        state = interrupt(state, now, commands)
    return state, commands


def on_speech_stopped(
    state: CallState, event: rt.SpeechStopped, now: float
) -> tuple[CallState, list[Command]]:
    state = replace(state, caller_speaking=False)
    commands: list[Command] = []
    if state.turn.contested:
        commands.append(MeterSpeech(0))
        if agent_audible(state):  # short: its transcript decides
            turn = replace(state.turn, contested=False, short_item=event.item_id or ANY_ITEM)
            return replace(state, turn=turn), commands
        state = replace(state, turn=replace(state.turn, contested=False))
    if state.phase != "live" or state.closing is not None:
        return state, commands
    return _answer(state, now, commands), commands


def on_caller_transcript(
    state: CallState, item_id: str, text: str, now: float, commands: list[Command]
) -> CallState:
    """A short utterance over the agent: a real word interrupts and is answered; a backchannel
    leaves the agent talking - unless the agent has finished meanwhile, then it is answered."""
    short = state.turn.short_item
    if not short or (short != item_id and short != ANY_ITEM):
        return state
    state = replace(state, turn=replace(state.turn, short_item=""))
    if state.phase != "live" or state.closing is not None:
        return state
    if agent_audible(state):
        if is_backchannel(text):
            commands.append(Observe("backchannel_kept_talking", 1))
            return state
        state = interrupt(state, now, commands)
    return _answer(state, now, commands)


def _answer(state: CallState, now: float, commands: list[Command]) -> CallState:
    state = replace(state, turn=replace(state.turn, timing=TurnTiming(stopped_at=now)))
    return ctl.request_response(state, None, commands)


def interrupt(
    state: CallState, now: float, commands: list[Command], barge_in: bool = True
) -> CallState:
    """Barge-in: clear Twilio's buffer, cancel the running response, and cut each assistant
    item at what the caller heard of it - also when all sent audio has played but the response
    is still generating (its later audio must not play). `barge_in` False: the engine cut it
    (say_instead), not the caller, and it is not counted as a barge-in."""
    from engine.call_state import heard_bytes  # the playback arithmetic lives there

    commands.append(ClearPlayback())
    cancelled = state.cancelled
    running = state.response_id
    if running is not None and running not in cancelled:
        commands.append(CancelResponse(running))
        cancelled = cancelled | {running}
    cut: list[tuple[str, int]] = []
    heard = heard_bytes(state, now)
    if heard is not None:
        item_id, heard_b = heard
        if item_id:  # items of a replaced model session cannot be truncated
            cut.append((item_id, heard_b // BYTES_PER_MS))
        for mark in state.pending:
            if mark.item_id and mark.item_id not in {i for i, _ in cut}:
                cut.append((mark.item_id, 0))
    elif running is not None and state.turn.audio_response == running and state.item_bytes:
        item_id, generated_b = state.item_bytes[-1]
        cut.append((item_id, generated_b // BYTES_PER_MS))
    commands.extend(Truncate(item_id, ms) for item_id, ms in cut)
    # A transcript usually arrives before the caller cuts in (the model writes faster than it
    # is heard): the interruption of an item already recorded is a turn of its own.
    commands.extend(
        RecordTurn("system", "caller interrupted", {"item_id": i, "interrupted_at_ms": ms})
        for i, ms in cut
        if i in state.spoken and barge_in
    )
    if barge_in:
        commands.append(Observe("barge_in", 1))
    return replace(
        state, pending=(), cancelled=cancelled, interrupted=(*state.interrupted, *cut)[-8:]
    )


def say_instead(state: CallState, line: str, now: float, commands: list[Command]) -> CallState:
    """The engine's own `line` in place of what the agent is saying: the running answer is cut
    as a barge-in cuts it (at what the caller heard), and the line is the next response."""
    running = state.response_id
    if running is not None and running not in state.cancelled:
        state = interrupt(state, now, commands, barge_in=False)
    if state.response_id is None and not state.response_requested:
        return ctl.request_response(state, line, commands)
    return replace(state, queued=(line, *state.queued))


# --- an answer's latency -----------------------------------------------------------------------


def on_response_audio(state: CallState, response_id: str) -> CallState:
    if state.turn.audio_response == response_id:
        return state
    return replace(state, turn=replace(state.turn, audio_response=response_id))


def on_first_output(
    state: CallState, item_id: str, now: float, commands: list[Command]
) -> CallState:
    """The model's first output (audio, or text for an outside voice) after the caller
    stopped."""
    timing = state.turn.timing
    if timing is None or timing.model_ms is not None:
        return state
    model_ms = round((now - timing.stopped_at) * 1000, 1)
    commands.append(Observe("turn_model_ms", model_ms))
    timing = replace(timing, item_id=item_id, model_ms=model_ms)
    return replace(state, turn=replace(state.turn, timing=timing))


def on_audio_sent(
    state: CallState, mark: str, chunk_ms: float, now: float, commands: list[Command]
) -> CallState:
    timing = state.turn.timing
    if timing is None or timing.model_ms is None or timing.sent_ms is not None:
        return state
    sent_ms = round((now - timing.stopped_at) * 1000, 1)
    commands.append(Observe("turn_ms", sent_ms))
    timing = replace(timing, sent_ms=sent_ms, first_mark=mark, first_chunk_ms=chunk_ms)
    return replace(state, turn=replace(state.turn, timing=timing))


def on_mark_returned(state: CallState, name: str, now: float, commands: list[Command]) -> CallState:
    timing = state.turn.timing
    if timing is None or timing.sent_ms is None or timing.first_mark != name:
        return state
    heard_ms = round(
        max(timing.sent_ms, (now - timing.stopped_at) * 1000 - timing.first_chunk_ms), 1
    )
    commands.append(Observe("turn_heard_ms", heard_ms))
    done = replace(timing, heard_ms=heard_ms)
    turn = replace(state.turn, timing=None, timings=(*state.turn.timings, done)[-8:])
    return replace(state, turn=turn)


def latency_meta(state: CallState, item_id: str) -> dict[str, object]:
    """What is known of the latency of the answer whose first item is `item_id`, for its turn
    record."""
    timings = [*state.turn.timings, *([state.turn.timing] if state.turn.timing else [])]
    for timing in timings:
        if timing.item_id == item_id and timing.sent_ms is not None:
            meta: dict[str, object] = {
                "latency_ms": timing.sent_ms,
                "model_ms": timing.model_ms,
                "sent_ms": timing.sent_ms,
            }
            if timing.heard_ms is not None:
                meta["heard_ms"] = timing.heard_ms
            return meta
    return {}
