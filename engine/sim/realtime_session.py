"""One simulated OpenAI Realtime connection: its event loop, dispatch and outgoing events.

I/O lives here: the session reads client events from its WebSocket and writes server events
(each with a send timeout; a client that stops reading is aborted). It owns its parts and wires
them to its `_send`: the effective config (`realtime_session_config`), the conversation items
(`realtime_conversation`), the input buffer with its VAD (`realtime_input`) and the response
task (`realtime_responder`). When the socket dies the session cancels its response task and is
marked `closed`; nothing outlives it.
"""

from __future__ import annotations

import asyncio
import copy
import json
import secrets
import time
from typing import Any

import structlog
from picows.websockets import ServerConnection
from picows.websockets.exceptions import ConnectionClosed

from engine.sim.realtime_conversation import Conversation
from engine.sim.realtime_input import InputAudio, decode_append
from engine.sim.realtime_outbox import SEND_TIMEOUT_S, Gone, IdSource
from engine.sim.realtime_responder import Responder
from engine.sim.realtime_script import Script
from engine.sim.realtime_session_config import SessionConfig
from engine.sim.realtime_settings import SimulatorSettings
from engine.sim.realtime_validation import RequestError
from engine.sim.ws_connection import abort_connection

log = structlog.get_logger("engine.sim.realtime")

CLIENT_EVENTS = (
    "session.update",
    "input_audio_buffer.append",
    "input_audio_buffer.commit",
    "input_audio_buffer.clear",
    "conversation.item.create",
    "conversation.item.truncate",
    "conversation.item.delete",
    "conversation.item.retrieve",
    "response.create",
    "response.cancel",
)

_HANDLERS = {kind: "_on_" + kind.replace(".", "_") for kind in CLIENT_EVENTS}


class SimSession:
    """One simulated Realtime connection (state described in the module docstring)."""

    def __init__(self, sim: SimulatorSettings, ws: ServerConnection, model: str) -> None:
        self._sim, self._ws = sim, ws
        self._new_id = IdSource()
        self.id = "sess_" + secrets.token_hex(10)
        self.model = model
        self.received: list[tuple[float, dict[str, Any]]] = []
        self.sent: list[tuple[float, dict[str, Any]]] = []
        self.session_config: dict[str, Any] = {}
        self.audio_in = bytearray()
        self.append_times: list[tuple[float, str]] = []
        self.closed = False
        self._closed_event = asyncio.Event()
        self._config = SessionConfig(self.id, model)
        self._script: Script | None = None
        self._conversation = Conversation(self._send, self._new_id)
        self._responder = Responder(
            sim,
            self.id,
            self._config,
            self._conversation,
            self._send,
            self._new_id,
            lambda: self.script.replies,
        )
        self._input = InputAudio(
            self.id,
            self._config,
            self._conversation,
            self._responder,
            self._send,
            self._new_id,
            lambda: self.script.transcripts,
        )

    # --- public views ----------------------------------------------------------------------

    @property
    def instructions(self) -> str:
        value: str = self._config.current.get("instructions") or ""
        return value

    @property
    def voice(self) -> str | None:
        voice = self._config.audio_output.get("voice")
        return voice if isinstance(voice, str) else None

    @property
    def script(self) -> Script:
        """The script this session follows, chosen from its instructions at first use."""
        if self._script is None:
            self._script = self._sim.script_for(self.instructions)
        return self._script

    def items(self) -> list[dict[str, Any]]:
        """The conversation items the server holds, in order (copies)."""
        return copy.deepcopy(self._conversation.items)

    async def wait_closed(self) -> None:
        """Return once the connection is gone and the session has cleaned up."""
        await self._closed_event.wait()

    def abort(self) -> None:
        """Drop the TCP connection without a close frame."""
        abort_connection(self._ws)

    # --- connection loop -------------------------------------------------------------------

    async def run(self) -> None:
        log.info("sim_session_opened", session_id=self.id, model=self.model)
        try:
            await self._send({"type": "session.created", "session": self._config.snapshot()})
            async for message in self._ws:
                await self._dispatch(message)
        except (ConnectionClosed, Gone):
            pass
        finally:
            self.closed = True
            await self._responder.shutdown()
            self._closed_event.set()
            log.info("sim_session_closed", session_id=self.id, close_code=self._ws.close_code)

    async def _dispatch(self, message: str | bytes) -> None:
        now = time.monotonic()
        try:
            event = json.loads(message)
        except (ValueError, UnicodeDecodeError):
            await self._error("invalid_json", "The server could not parse the event as JSON.")
            return
        if not isinstance(event, dict):
            await self._error("invalid_type", "Expected a JSON object as the event.")
            return
        kind = event.get("type")
        client_id = event.get("event_id") if isinstance(event.get("event_id"), str) else None
        if kind == "input_audio_buffer.append":
            event["type"] = "input_audio_buffer.append"  # share one str across the log
            if self._sim.record_audio_events:
                self.received.append((now, event))
        else:
            self.received.append((now, event))
        try:
            if kind is None:
                raise RequestError(
                    "missing_required_parameter", "Missing required parameter: 'type'.", "type"
                )
            if not isinstance(kind, str) or kind not in _HANDLERS:
                supported = ", ".join(f"'{k}'" for k in CLIENT_EVENTS)
                raise RequestError(
                    "invalid_value",
                    f"Invalid value: '{kind}'. Supported values are: {supported}.",
                    "type",
                )
            await getattr(self, _HANDLERS[kind])(event, now)
        except RequestError as exc:
            await self._error(exc.code, exc.message, exc.param, client_id)
        except (ConnectionClosed, Gone):
            raise
        except Exception:
            log.exception("sim_event_failed", session_id=self.id, event_type=kind)
            await self._error(
                "server_error",
                "The simulator failed on this event.",
                None,
                client_id,
                error_type="server_error",
            )

    # --- sending ---------------------------------------------------------------------------

    async def _write(self, text: str) -> None:
        try:
            async with asyncio.timeout(SEND_TIMEOUT_S):
                await self._ws.send(text)
        except TimeoutError:
            log.warning("sim_send_timeout", session_id=self.id)
            self.abort()
            raise Gone from None

    async def _send(self, event: dict[str, Any], *, record: bool = True) -> None:
        event["event_id"] = self._new_id("event")
        if record:
            self.sent.append((time.monotonic(), event))
        await self._write(json.dumps(event))

    async def _error(
        self,
        code: str,
        message: str,
        param: str | None = None,
        client_event_id: str | None = None,
        *,
        error_type: str = "invalid_request_error",
    ) -> None:
        log.info("sim_client_error", session_id=self.id, code=code)
        await self._send(
            {
                "type": "error",
                "error": {
                    "type": error_type,
                    "code": code,
                    "message": message,
                    "param": param,
                    "event_id": client_event_id,
                },
            }
        )

    # --- client events (one handler each; the parts do the work) ---------------------------

    async def _on_session_update(self, event: dict[str, Any], now: float) -> None:
        self._config.update(event.get("session"))
        self.session_config = copy.deepcopy(event["session"])
        self._input.configure()
        await self._send({"type": "session.updated", "session": self._config.snapshot()})

    async def _on_input_audio_buffer_append(self, event: dict[str, Any], now: float) -> None:
        audio, payload = decode_append(event)
        self.audio_in += audio
        self.append_times.append((now, payload))
        await self._input.append(audio)

    async def _on_input_audio_buffer_commit(self, event: dict[str, Any], now: float) -> None:
        await self._input.commit()

    async def _on_input_audio_buffer_clear(self, event: dict[str, Any], now: float) -> None:
        await self._input.clear()

    async def _on_conversation_item_create(self, event: dict[str, Any], now: float) -> None:
        await self._conversation.create(event)

    async def _on_conversation_item_delete(self, event: dict[str, Any], now: float) -> None:
        await self._conversation.delete(event)

    async def _on_conversation_item_retrieve(self, event: dict[str, Any], now: float) -> None:
        await self._conversation.retrieve(event)

    async def _on_conversation_item_truncate(self, event: dict[str, Any], now: float) -> None:
        await self._conversation.truncate(event)

    async def _on_response_create(self, event: dict[str, Any], now: float) -> None:
        await self._responder.create(event)

    async def _on_response_cancel(self, event: dict[str, Any], now: float) -> None:
        await self._responder.cancel_requested(event)
