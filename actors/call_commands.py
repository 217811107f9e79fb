"""The state machine's commands that are not the audio path, carried out for a call session:
the model's commands (actors/model_commands.py), turns for the turn writer, measurements, a
refused stream, Twilio REST commands, the end of the call and the speech meter. The session
writes the Twilio socket's own commands (media, marks, clear) itself, at once.

I/O: only through the call's parts; whatever may wait on a network runs in the call's tasks.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, assert_never

from actors import call_effects
from actors.call_finish import refuse_stream
from actors.call_parts import CallParts
from actors.model_commands import to_model
from engine import call_events as ev

ControlCommand = (
    ev.CancelResponse
    | ev.Truncate
    | ev.CreateResponse
    | ev.SendUserText
    | ev.SendToolOutput
    | ev.RecordTurn
    | ev.Observe
    | ev.CloseStream
    | ev.FinishAfterSpeech
    | ev.SetRecording
    | ev.EndCall
    | ev.MeterSpeech
)
Apply = Callable[[ev.CallEvent], Awaitable[None]]


async def execute(
    command: ControlCommand,
    parts: CallParts,
    *,
    call_ended: bool,
    apply: Apply,
    finish: Callable[[ev.EndCall], Coroutine[Any, Any, None]],
) -> None:
    """Carry out one command; `call_ended` says whether the call's state has ended."""
    match command:
        case (
            ev.CancelResponse()
            | ev.Truncate()
            | ev.CreateResponse()
            | ev.SendUserText()
            | ev.SendToolOutput()
        ):
            await to_model(command, parts.model, parts.voice)
        case ev.RecordTurn(role, text, meta):
            parts.turns.add(role, text, meta)
        case ev.Observe():
            parts.metrics.observe(command, time.monotonic())
        case ev.CloseStream(code, reason):
            await refuse_stream(parts.ending, code, reason, call_ended=call_ended)
        case ev.FinishAfterSpeech() | ev.SetRecording():  # through Twilio's REST API
            parts.tasks.spawn(
                call_effects.rest_command(parts.control, parts.setup, command, apply, parts.log)
            )
        case ev.EndCall():
            parts.tasks.spawn(finish(command))
        case ev.MeterSpeech(min_ms):
            parts.meter.arm(min_ms)
        case _:
            assert_never(command)
