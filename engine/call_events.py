"""Events into and commands out of the call state machine (engine.call_state). Pure data.

Events come from the Twilio codec, the realtime codec, or the call actor itself (timers, tool
results, socket fates); commands are what the actor must do. Kept apart from the state machine
so the call-control logic (engine.call_control) can share them without an import cycle.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from engine import realtime_codec as rt
from engine import twilio_codec as tw
from engine.recording_consent import Recording

CloseKind = Literal["hang_up", "transfer"]
Metric = Literal[
    "greeting_ms",
    "turn_ms",  # caller stop -> first audio sent
    "turn_model_ms",
    "turn_heard_ms",
    "barge_in",
    "backchannel_kept_talking",
    "model_error",
    "protocol_error",
    "filler",
    "emergency",  # the caller was told to hang up and dial 911 (engine.emergency)
    "guardrail",  # an answer cut for a quote, coverage advice or binding (engine.advice_guard)
]


# --- events that do not come straight from a codec ---------------------------------------------


@dataclass(frozen=True, slots=True)
class ModelClosed:
    """The realtime socket closed or could not be opened."""

    permanent: bool
    reason: str


@dataclass(frozen=True, slots=True)
class StreamClosed:
    """The Twilio socket closed without a `stop` (network break or server-side close)."""

    reason: str


@dataclass(frozen=True, slots=True)
class NoStream:
    """Twilio never connected the media stream after the call was claimed."""


@dataclass(frozen=True, slots=True)
class Tick:
    """A clock tick (about once a second) for silence and call-length limits."""


@dataclass(frozen=True, slots=True)
class RequestResponse:
    """Ask the model to respond, now or as soon as the running response is done. With quoted
    text in `instructions` the model is asked to say exactly that."""

    instructions: str | None = None


@dataclass(frozen=True, slots=True)
class ToolResult:
    """A tool finished: its output goes back to the model, which then responds."""

    call_id: str
    name: str
    output: str
    close: CloseKind | None = None
    target: str = ""
    say: str = ""
    verified: bool = False  # verify_caller succeeded: what is known about the caller may be used
    why: str = ""  # a transfer's reason in the model's words (a warm transfer's summary)


@dataclass(frozen=True, slots=True)
class ToolSlow:
    """A tool is still running a moment (engine.tools.FILLER_AFTER_S) after the model called it:
    the caller hears a filler line meanwhile."""

    name: str


@dataclass(frozen=True, slots=True)
class CloseAfterSpeech:
    """End the call (or transfer it) once `say` has been spoken and heard."""

    kind: CloseKind
    say: str
    target: str = ""
    reason: str = ""


@dataclass(frozen=True, slots=True)
class FinishFailed:
    """The REST hang-up or redirect failed: end the call from our side."""

    detail: str


@dataclass(frozen=True, slots=True)
class FinishSettled:
    """Some seconds after a REST hang-up or redirect: end the call if Twilio has not."""


@dataclass(frozen=True, slots=True)
class CallerSpeechLong:
    """The session's speech meter counted the minimum of caller speech it was asked to watch
    for (`MeterSpeech`): speech over the agent that long is an interruption."""


@dataclass(frozen=True, slots=True)
class RecordingResumed:
    """A call resumed on a new actor: how its recording stands, read from the call's record
    (engine.recording_consent.resumed_recording)."""

    recording: Recording


@dataclass(frozen=True, slots=True)
class ModelReconnected:
    """A new realtime session replaced a dropped one (history replayed, no greeting)."""


CallEvent = (
    tw.Start
    | tw.Mark
    | tw.Dtmf
    | tw.Stop
    | rt.AudioDelta
    | rt.TextDelta
    | rt.AgentWords
    | rt.SpeechStarted
    | rt.SpeechStopped
    | rt.ResponseCreated
    | rt.ResponseDone
    | rt.FunctionCall
    | rt.CallerTranscript
    | rt.AgentTranscript
    | rt.ServerError
    | ModelClosed
    | StreamClosed
    | NoStream
    | Tick
    | RequestResponse
    | ToolResult
    | ToolSlow
    | CloseAfterSpeech
    | FinishFailed
    | FinishSettled
    | ModelReconnected
    | CallerSpeechLong
    | RecordingResumed
)


# --- commands ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SendMedia:
    payload: str


@dataclass(frozen=True, slots=True)
class SendMark:
    name: str


@dataclass(frozen=True, slots=True)
class ClearPlayback:
    pass


@dataclass(frozen=True, slots=True)
class CancelResponse:
    response_id: str


@dataclass(frozen=True, slots=True)
class Truncate:
    item_id: str
    audio_end_ms: int


@dataclass(frozen=True, slots=True)
class RecordTurn:
    role: Literal["caller", "agent", "dtmf", "tool", "system"]
    text: str
    meta: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class CloseStream:
    code: int
    reason: str


@dataclass(frozen=True, slots=True)
class EndCall:
    outcome: str
    detail: str = ""
    transferred_to: str | None = None


@dataclass(frozen=True, slots=True)
class CreateResponse:
    instructions: str | None = None


@dataclass(frozen=True, slots=True)
class SendUserText:
    text: str


@dataclass(frozen=True, slots=True)
class SendToolOutput:
    call_id: str
    output: str


@dataclass(frozen=True, slots=True)
class FinishAfterSpeech:
    """The closing words were heard: hang up, or redirect the call to `target`."""

    kind: CloseKind
    target: str
    why: str = ""  # a transfer's reason in the model's words


@dataclass(frozen=True, slots=True)
class MeterSpeech:
    """Count the caller's voiced audio from now and report `CallerSpeechLong` once it reaches
    `min_ms`; 0 stops counting."""

    min_ms: int


@dataclass(frozen=True, slots=True)
class SetRecording:
    """Start (`on`) or stop the call's recording through Twilio's REST API
    (engine.recording_consent: after the notice was heard; when the caller declines)."""

    on: bool


@dataclass(frozen=True, slots=True)
class Observe:
    """A measurement, counted in the call's metrics (engine.call_metrics)."""

    metric: Metric
    value: float
    detail: str = ""


Command = (
    SendMedia
    | SendMark
    | ClearPlayback
    | CancelResponse
    | Truncate
    | RecordTurn
    | CloseStream
    | EndCall
    | Observe
    | CreateResponse
    | SendUserText
    | SendToolOutput
    | FinishAfterSpeech
    | MeterSpeech
    | SetRecording
)
