"""The call state machine: `step(state, event, now) -> (state, commands)`. Pure, no I/O.

One call's control logic - when the stream may start, what the caller has heard, barge-in and
its truncation arithmetic, what enters the transcript, when the call ends - as a function of
events from Twilio and the realtime model. The clock is passed in. The call actor decodes
frames, calls `step`, and executes the returned commands; inbound caller audio never passes
through here (it is forwarded to the model on a fast path), outbound agent audio does, because
every chunk needs a mark.

Agent audio is accounted in bytes of 8 kHz mu-law (8 bytes a millisecond). Each chunk sent to
Twilio is followed by a mark; Twilio returns a mark when the audio before it has played. So at
any moment the caller has heard: everything up to the last returned mark, plus the part of the
next chunk that has been playing since then - capped at that chunk's end, since its mark has
not come back.
"""

from __future__ import annotations

import hmac
import operator
from dataclasses import dataclass, field, fields, replace
from typing import Any, Literal, assert_never

from engine import advice_steps, disclosure_steps, emergency_steps, recording_steps
from engine import call_control as ctl
from engine import realtime_codec as rt
from engine import turn_taking as tt
from engine import twilio_codec as tw
from engine.audio import BYTES_PER_MS, b64_decoded_len
from engine.call_control import CallRules, Closing
from engine.call_events import (
    CallerSpeechLong,
    CallEvent,
    CloseAfterSpeech,
    CloseStream,
    Command,
    FinishFailed,
    FinishSettled,
    ModelClosed,
    ModelReconnected,
    NoStream,
    Observe,
    RecordingResumed,
    RecordTurn,
    RequestResponse,
    SendMark,
    SendMedia,
    StreamClosed,
    Tick,
    ToolResult,
    ToolSlow,
)
from engine.recording_consent import Recording
from prompts import call_lines

Phase = Literal["waiting", "live", "ended"]


# --- state ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Chunk:
    """Agent audio generated before the stream started, waiting to be played."""

    response_id: str
    item_id: str
    payload: str
    start_b: int
    end_b: int


@dataclass(frozen=True, slots=True)
class PendingMark:
    """A mark sent after a chunk, not yet returned by Twilio."""

    name: str
    item_id: str
    start_b: int
    end_b: int
    sent_at: float


@dataclass(frozen=True, slots=True)
class CallState:
    call_sid: str
    media_token: str = field(repr=False)
    phase: Phase = "waiting"
    stream_sid: str = ""
    stream_started_at: float | None = None
    buffered: tuple[Chunk, ...] = ()
    pending: tuple[PendingMark, ...] = ()
    mark_seq: int = 0
    item_bytes: tuple[tuple[str, int], ...] = ()  # bytes generated per assistant item, newest last
    last_played_at: float | None = None
    response_id: str | None = None
    cancelled: frozenset[str] = frozenset()
    interrupted: tuple[tuple[str, int], ...] = ()  # item_id -> ms heard when cut off
    spoken: tuple[str, ...] = ()  # assistant items whose transcript is recorded, newest last
    turn: tt.TurnState = field(default_factory=tt.TurnState)  # engine.turn_taking
    greeted: bool = False
    outcome: str | None = None
    # call control (engine.call_control)
    rules: CallRules = field(default_factory=CallRules)
    response_requested: bool = False
    request_unconfirmed: bool = False  # our last response.create may still be refused
    last_request: str | None = None
    queued: tuple[str | None, ...] = ()
    closing: Closing | None = None
    outcome_hint: str | None = None
    transferred_to: str | None = None
    quiet_since: float | None = None
    caller_speaking: bool = False
    silence_prompts: int = 0
    transfer_hint: str | None = None
    language: str | None = None  # what the caller speaks ("en", "es"); None: not a word yet
    emergency: bool = False  # the caller has been told to hang up and dial 911
    recording: Recording = "none"  # engine.recording_consent
    agent_words: tuple[str, str] = ("", "")  # (item, tail of its transcript): engine.advice_steps
    guardrails: tuple[str, ...] = ()  # what each answer cut by engine.advice_guard stated
    first_answer_heard: bool = False  # the call's first answer was checked (disclosure_steps)
    disclosed_in: tuple[str, float] | None = None  # (item, where in it the disclosure ended)

    def generated_bytes(self, item_id: str) -> int:
        for item, n in reversed(self.item_bytes):
            if item == item_id:
                return n
        return 0


_FIELDS = tuple(f.name for f in fields(CallState))
_FIELD_INDEX = {name: i for i, name in enumerate(_FIELDS)}
_ALL_FIELDS = operator.attrgetter(*_FIELDS)


def evolve(state: CallState, **changes: Any) -> CallState:
    """`dataclasses.replace` for the audio path: a copy of the state with `changes`, in about a
    quarter of its time (profiled: replace was over half of an audio delta's Python time)."""
    values = list(_ALL_FIELDS(state))
    for name, value in changes.items():
        values[_FIELD_INDEX[name]] = value
    return CallState(*values)


def new_call(
    call_sid: str,
    media_token: str,
    rules: CallRules | None = None,
    recording: Recording = "none",
) -> CallState:
    return CallState(
        call_sid=call_sid, media_token=media_token, rules=rules or CallRules(), recording=recording
    )


def heard_bytes(state: CallState, now: float) -> tuple[str, int] | None:
    """(item_id, bytes of it the caller has heard) for the oldest unplayed chunk, or None when
    nothing is waiting to play."""
    if not state.pending:
        return None
    first = state.pending[0]
    began = first.sent_at
    if state.last_played_at is not None and state.last_played_at > began:
        began = state.last_played_at
    elapsed_b = int(max(0.0, now - began) * 1000 * BYTES_PER_MS)
    return first.item_id, first.start_b + min(elapsed_b, first.end_b - first.start_b)


def _with_item_bytes(state: CallState, item_id: str, end_b: int) -> tuple[tuple[str, int], ...]:
    items = state.item_bytes
    if items and items[-1][0] == item_id:  # the item being spoken: the usual case
        return (*items[:-1], (item_id, end_b))
    kept = [(i, n) for i, n in items if i != item_id]
    kept.append((item_id, end_b))
    return tuple(kept[-8:])


def _send_chunk(
    state: CallState,
    chunk: Chunk,
    now: float,
    commands: list[Command],
    item_bytes: tuple[tuple[str, int], ...] | None = None,
) -> CallState:
    """Send a chunk and its mark. `item_bytes`, when given, is set in the same copy of the
    state: one copy per audio delta (the audio path's largest cost in Python, by profile)."""
    seq = state.mark_seq + 1
    name = f"m{seq}"
    commands.append(SendMedia(chunk.payload))
    commands.append(SendMark(name))
    greeted = state.greeted
    if not greeted:
        started = state.stream_started_at if state.stream_started_at is not None else now
        commands.append(Observe("greeting_ms", (now - started) * 1000))
        greeted = True
    mark = PendingMark(name, chunk.item_id, chunk.start_b, chunk.end_b, now)
    state = evolve(
        state,
        mark_seq=seq,
        pending=(*state.pending, mark),
        greeted=greeted,
        item_bytes=state.item_bytes if item_bytes is None else item_bytes,
    )
    chunk_ms = (chunk.end_b - chunk.start_b) / BYTES_PER_MS
    return tt.on_audio_sent(state, name, chunk_ms, now, commands)


def _on_start(state: CallState, event: tw.Start, now: float) -> tuple[CallState, list[Command]]:
    if state.phase == "ended":
        return state, [CloseStream(1000, "call already ended")]
    if state.phase == "live":
        return state, [Observe("protocol_error", 1, "duplicate start")]
    token = event.custom_parameters.get("token", "")
    if not token or not hmac.compare_digest(token.encode(), state.media_token.encode()):
        return state, [CloseStream(1008, "invalid stream token")]
    state = replace(state, phase="live", stream_sid=event.stream_sid, stream_started_at=now)
    commands: list[Command] = []
    for chunk in state.buffered:
        if chunk.response_id in state.cancelled:
            continue
        state = _send_chunk(state, chunk, now, commands)
    return replace(state, buffered=()), commands


def _on_audio(
    state: CallState, event: rt.AudioDelta, now: float
) -> tuple[CallState, list[Command]]:
    if state.phase == "ended" or event.response_id in state.cancelled:
        return state, []
    nbytes = b64_decoded_len(event.delta)
    start_b = state.generated_bytes(event.item_id)
    end_b = start_b + nbytes
    item_bytes = _with_item_bytes(state, event.item_id, end_b)
    state = tt.on_response_audio(state, event.response_id)
    commands: list[Command] = []
    state = tt.on_first_output(state, event.item_id, now, commands)
    chunk = Chunk(event.response_id, event.item_id, event.delta, start_b, end_b)
    if state.phase == "waiting":
        return evolve(state, buffered=(*state.buffered, chunk), item_bytes=item_bytes), commands
    return _send_chunk(state, chunk, now, commands, item_bytes), commands


def _on_mark(state: CallState, event: tw.Mark, now: float) -> tuple[CallState, list[Command]]:
    for index, mark in enumerate(state.pending):
        if mark.name == event.name:
            state = evolve(state, pending=state.pending[index + 1 :], last_played_at=now)
            commands: list[Command] = []
            state = tt.on_mark_returned(state, event.name, now, commands)
            state = recording_steps.start_after_notice(state, commands)
            return ctl.check_closing(state, now, commands), commands
    return state, []  # a mark returned after a clear, or not ours: nothing to do


def _end(state: CallState, outcome: str, detail: str = "") -> tuple[CallState, list[Command]]:
    if state.phase == "ended":
        return state, []
    outcome = ctl.end_outcome(state, outcome)
    return replace(state, phase="ended", outcome=outcome), [ctl.end_event(state, outcome, detail)]


def _on_reconnected(state: CallState) -> CallState:
    """A new model session: nothing is running there, and the old items are gone (audio of
    them still playing can be cleared but not truncated)."""
    pending = tuple(replace(m, item_id="") for m in state.pending)
    return replace(state, item_bytes=(), pending=pending, cancelled=frozenset())


def step(state: CallState, event: CallEvent, now: float) -> tuple[CallState, list[Command]]:
    """Advance one call by one event. Never raises for protocol-level surprises; every event
    type has its case (mypy checks the match is exhaustive)."""
    commands: list[Command] = []
    match event:
        case rt.AudioDelta():
            return _on_audio(state, event, now)
        case rt.TextDelta():  # an outside voice will speak it: the model's first output
            state = tt.on_first_output(state, event.item_id, now, commands)
            return advice_steps.on_agent_words(state, event, now, commands), commands
        case rt.AgentWords():
            return advice_steps.on_agent_words(state, event, now, commands), commands
        case tw.Mark():
            return _on_mark(state, event, now)
        case rt.SpeechStarted():
            return tt.on_speech_started(state, now)
        case rt.SpeechStopped():
            return tt.on_speech_stopped(state, event, now)
        case CallerSpeechLong():
            return tt.on_long_speech(state, now)
        case rt.ResponseCreated():
            return ctl.on_response_created(state, event), commands
        case rt.ResponseDone():
            if event.status == "failed":
                commands.append(Observe("model_error", 1, "response failed"))
            state = ctl.on_response_done(state, event, now, commands)
            return recording_steps.start_after_notice(state, commands), commands
        case Tick():
            return ctl.on_tick(state, now)
        case RequestResponse():
            return ctl.request_response(state, event.instructions, commands), commands
        case rt.FunctionCall():
            return ctl.on_tool_called(state, event.name), commands
        case ToolResult():
            return ctl.on_tool_result(state, event, now)
        case ToolSlow():
            commands.append(Observe("filler", 1, event.name))
            return ctl.request_response(state, call_lines.FILLER, commands), commands
        case CloseAfterSpeech():
            state = ctl.begin_closing(
                state, event.kind, event.say, event.target, event.reason, now, commands
            )
            return state, commands
        case rt.CallerTranscript():
            return _on_caller_transcript(state, event, now)
        case rt.AgentTranscript():
            return _on_agent_transcript(state, event)
        case tw.Start():
            return _on_start(state, event, now)
        case tw.Dtmf():
            return ctl.on_dtmf(state, event.digit, now)
        case tw.Stop():
            return _end(state, "caller_hung_up")
        case rt.ServerError():
            return _on_server_error(state, event)
        case ModelClosed():
            # The caller hears an apology from the <Connect action>, then the fallback number.
            fallback = state.transferred_to if state.outcome_hint else state.rules.fallback_number
            return _end(replace(state, transferred_to=fallback), "model_failed", event.reason)
        case StreamClosed():
            return _end(state, "stream_lost", event.reason)
        case NoStream():
            return (
                _end(state, "stream_never_connected") if state.phase == "waiting" else (state, [])
            )
        case FinishFailed():
            return _end(state, "agent_hung_up", event.detail)
        case FinishSettled():
            return _end(state, "agent_hung_up")
        case ModelReconnected():
            state = ctl.on_reconnected(state, commands)
            return _on_reconnected(state), commands
        case RecordingResumed():
            return recording_steps.resumed(state, event.recording, commands), commands
        case _:
            assert_never(event)


def _on_caller_transcript(
    state: CallState, event: rt.CallerTranscript, now: float
) -> tuple[CallState, list[Command]]:
    text = event.text.strip()
    if not text:
        return state, []
    state = ctl.on_caller_transcript(state, text)
    commands: list[Command] = [RecordTurn("caller", text, {"item_id": event.item_id})]
    state = tt.on_caller_transcript(state, event.item_id, text, now, commands)
    state = emergency_steps.on_caller_words(state, text, now, commands)
    return recording_steps.on_caller_words(state, text, commands), commands


def _on_agent_transcript(
    state: CallState, event: rt.AgentTranscript
) -> tuple[CallState, list[Command]]:
    text = event.text.strip()
    if not text:
        return state, []
    meta: dict[str, object] = {"item_id": event.item_id}
    for item_id, heard_ms in state.interrupted:
        if item_id == event.item_id:
            meta["interrupted_at_ms"] = heard_ms
    meta.update(tt.latency_meta(state, event.item_id))
    state = replace(state, spoken=(*state.spoken, event.item_id)[-8:])
    commands: list[Command] = [RecordTurn("agent", text, meta)]
    return disclosure_steps.on_agent_transcript(state, event.item_id, text, commands), commands


def _on_server_error(state: CallState, event: rt.ServerError) -> tuple[CallState, list[Command]]:
    if event.code in rt.BENIGN_ERROR_CODES:
        return state, []
    if event.code == ctl.BUSY_ERROR:
        return ctl.on_server_error(state, event), []
    return state, [Observe("model_error", 1, event.code or event.type)]
