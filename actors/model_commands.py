"""The state machine's commands for the realtime model, as frames on the call's model link:
cancel or cut an answer (through the call's voice when it spoke it), ask for an answer, and
hand the model the caller's text or a tool's output. I/O: the model link (`ModelChannel`) and
the voice relay (actors/voice_relay.py).
"""

from __future__ import annotations

from typing import assert_never

from actors.call_sockets import ModelChannel
from actors.voice_relay import VoiceRelay
from engine import call_events as ev
from engine import realtime_codec as rt

ModelCommand = (
    ev.CancelResponse | ev.Truncate | ev.CreateResponse | ev.SendUserText | ev.SendToolOutput
)


async def to_model(command: ModelCommand, model: ModelChannel, voice: VoiceRelay) -> None:
    """Carry out one command for the model."""
    match command:
        case ev.CancelResponse(response_id):
            model.send(rt.response_cancel())
            await voice.stop(response_id)
        case ev.Truncate(item_id, audio_end_ms):
            if not await voice.cut(item_id, audio_end_ms):  # the model's own audio
                model.send(rt.item_truncate(item_id, audio_end_ms))
        case ev.CreateResponse(instructions):
            model.send(rt.response_create(instructions))
        case ev.SendUserText(text):
            model.send(rt.user_text(text))
        case ev.SendToolOutput(call_id, output):
            model.send(rt.function_call_output(call_id, output))
        case _:
            assert_never(command)
