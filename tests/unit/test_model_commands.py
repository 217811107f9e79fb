"""The state machine's commands for the model (actors/model_commands.py): each becomes its
realtime frame on the model link; a cut or cancel of an answer the model itself spoke goes to
the model (no voice spoke it)."""

from __future__ import annotations

import json

import structlog

from actors.model_commands import ModelCommand, to_model
from actors.turn_writer import TurnWriter
from actors.voice_relay import VoiceRelay
from engine import call_events as ev
from engine.call_metrics import CallMetrics
from tests.unit.session_fakes import CONFIG, TENANT, FakeMemory, Log


class OpenLink:
    """A model link with a session open: what is sent lands in `sent`."""

    reconnects = 0
    last_gap_ms: float | None = None
    dropped = 0
    opened_at = 0.0
    ready = True

    def __init__(self) -> None:
        self.sent: list[dict[str, object]] = []

    def send(self, text: str) -> bool:
        self.sent.append(json.loads(text))
        return True

    def rotate(self) -> None:
        raise AssertionError("not rotated by a command")

    async def run(self) -> None:
        return None

    async def close(self) -> None:
        return None


async def _apply(event: ev.CallEvent, received_ns: int = 0) -> None:
    raise AssertionError("a command for the model applies no event")


async def sent_for(command: ModelCommand) -> list[dict[str, object]]:
    model = OpenLink()
    log = structlog.get_logger()
    turns = TurnWriter(FakeMemory(Log()), "memory-token", "CA1")
    voice = VoiceRelay(CONFIG, TENANT, _apply, model.send, turns, CallMetrics(0.0), log)
    await to_model(command, model, voice)
    return model.sent


async def test_each_command_is_its_frame() -> None:
    assert await sent_for(ev.CancelResponse("resp-1")) == [{"type": "response.cancel"}]
    truncate = await sent_for(ev.Truncate("item-1", 640))
    assert truncate == [
        {
            "type": "conversation.item.truncate",
            "item_id": "item-1",
            "content_index": 0,
            "audio_end_ms": 640,
        }
    ]
    [create] = await sent_for(ev.CreateResponse("Say goodbye."))
    assert create["type"] == "response.create"
    assert "Say goodbye." in str(create)
    [text] = await sent_for(ev.SendUserText("I pressed 0"))
    assert text["type"] == "conversation.item.create"
    assert "I pressed 0" in str(text)
    [output] = await sent_for(ev.SendToolOutput("call-1", '{"ok": true}'))
    assert output["type"] == "conversation.item.create"
    assert output["item"] == {
        "type": "function_call_output",
        "call_id": "call-1",
        "output": '{"ok": true}',
    }
