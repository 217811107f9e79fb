"""A local, protocol-faithful simulator of the OpenAI Realtime API (GA) over WebSocket.

I/O lives here: an asyncio WebSocket server (picows' `websockets`-compatible layer: compiled
framing, so a benchmark's simulator takes less of the CPU it shares with the engine under test).
`ws://HOST:PORT/v1/realtime?model=...` speaks the GA Realtime protocol to the official `openai`
SDK (set `OPENAI_BASE_URL` to `base_url`); `ws://HOST:PORT/control` takes one JSON script
registration from another process. Everything pure (scripts, session-config rules, reply
audio) is in `engine.sim.realtime_script`; the energy VAD is `engine.sim.vad`.

Each `SimSession` owns one connection: its effective session config, the conversation items,
the input-audio clock and VAD, and at most one response task. The response task streams events
paced on the loop clock and watches a cancel flag, so a cancel (client or barge-in) always
ends with a coherent `response.done`. When the socket dies the session cancels its task and is
marked `closed`; nothing outlives it.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import binascii
import contextlib
import copy
import gc
import json
import secrets
import time
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from itertools import count
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

import picows
import structlog
from picows.websockets import (
    Request,
    Response,
    Server,
    ServerConnection,
    ServerHandshakeConnection,
    connect,
    serve,
)
from picows.websockets.exceptions import ConnectionClosed

from engine.sim.realtime_script import (
    FALLBACK_REPLY,
    INAUDIBLE,
    SEMANTIC_SILENCE_MS,
    Reply,
    RequestError,
    Script,
    apply_session_update,
    default_session,
    normalize_client_item,
    quoted_reply,
    render_reply_audio,
    script_from_json,
    script_to_json,
    speech_for,
)
from engine.sim.vad import BYTES_PER_MS, EnergyVad, SpeechStarted

__all__ = [
    "RealtimeSimulator",
    "Reply",
    "Script",
    "SimSession",
    "main",
    "register_script",
    "run_standalone",
    "serve_forever",
]

log = structlog.get_logger(__name__)

REALTIME_PATH = "/v1/realtime"
CONTROL_PATH = "/control"
MAX_MESSAGE_BYTES = 15 * 1024 * 1024
SEND_TIMEOUT_S = 10.0
CLOSE_TIMEOUT_S = 5.0
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


class _Gone(Exception):
    """The client stopped reading (send timed out); the socket has been aborted."""


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


@dataclass(eq=False, slots=True)
class _Response:
    id: str
    plan: list[Reply]
    in_conversation: bool
    modalities: list[str]
    audio_format: dict[str, Any]
    voice: Any
    metadata: Any
    output: list[dict[str, Any]] = field(default_factory=list)
    audio_ms: int = 0
    text_chars: int = 0
    cancel_reason: str | None = None
    latency_pending: bool = True  # first_audio_delay_ms not yet spent on this response
    waker: asyncio.Future[None] | None = None
    task: asyncio.Task[None] | None = None

    def request_cancel(self, reason: str) -> None:
        if self.cancel_reason is None:
            self.cancel_reason = reason
        if self.waker is not None:
            _resolve(self.waker)

    def snapshot(self, status: str) -> dict[str, Any]:
        done = status != "in_progress"
        details: dict[str, Any] | None = None
        if status == "cancelled":
            details = {"type": "cancelled", "reason": self.cancel_reason}
        usage = None
        if done:
            audio_tokens, text_tokens = self.audio_ms // 50, self.text_chars // 4 + 1
            usage = {
                "total_tokens": 120 + audio_tokens + text_tokens,
                "input_tokens": 120,
                "output_tokens": audio_tokens + text_tokens,
                "input_token_details": {"text_tokens": 100, "audio_tokens": 20, "cached_tokens": 0},
                "output_token_details": {"text_tokens": text_tokens, "audio_tokens": audio_tokens},
            }
        return {
            "object": "realtime.response",
            "id": self.id,
            "status": status,
            "status_details": details,
            "output": copy.deepcopy(self.output) if done else [],
            "conversation_id": "conv_default" if self.in_conversation else None,
            "output_modalities": self.modalities,
            "max_output_tokens": "inf",
            "audio": {"output": {"format": self.audio_format, "voice": self.voice}},
            "usage": usage,
            "metadata": self.metadata,
        }


@dataclass(slots=True)
class _AudioInfo:
    text: str  # the full reply text
    full_ms: int  # audio length of the full reply
    generated_ms: int = 0  # audio actually sent (or kept after truncation)


class SimSession:
    """One simulated Realtime connection (state described in the module docstring)."""

    def __init__(self, sim: RealtimeSimulator, ws: ServerConnection, model: str) -> None:
        self._sim, self._ws = sim, ws
        self._tag = secrets.token_hex(5)
        self._ids = count(1)
        self.id = "sess_" + secrets.token_hex(10)
        self.model = model
        self.received: list[tuple[float, dict[str, Any]]] = []
        self.sent: list[tuple[float, dict[str, Any]]] = []
        self.session_config: dict[str, Any] = {}
        self.audio_in = bytearray()
        self.append_times: list[tuple[float, str]] = []
        self.closed = False
        self._closed_event = asyncio.Event()
        self._config = default_session(self.id, model)
        self._items: list[dict[str, Any]] = []
        self._audio: dict[str, _AudioInfo] = {}
        self._script: Script | None = None
        self._transcript_i = self._reply_i = 0
        self._clock_ms = 0.0  # audio clock: ms of input audio received
        self._buffer_start_ms = 0.0
        self._vad: EnergyVad | None = None
        self._vad_key: tuple[Any, ...] | None = None
        self._pending_user_item: str | None = None
        self._response: _Response | None = None
        self._voice_locked = False
        self._configure_vad()

    # --- public views ----------------------------------------------------------------------

    @property
    def instructions(self) -> str:
        value: str = self._config.get("instructions") or ""
        return value

    @property
    def voice(self) -> str | None:
        voice = self._config["audio"]["output"].get("voice")
        return voice if isinstance(voice, str) else None

    @property
    def script(self) -> Script:
        """The script this session follows, chosen from its instructions at first use."""
        if self._script is None:
            self._script = self._sim.script_for(self.instructions)
        return self._script

    def items(self) -> list[dict[str, Any]]:
        """The conversation items the server holds, in order (copies)."""
        return copy.deepcopy(self._items)

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
            await self._send({"type": "session.created", "session": copy.deepcopy(self._config)})
            async for message in self._ws:
                await self._dispatch(message)
        except (ConnectionClosed, _Gone):
            pass
        finally:
            self.closed = True
            resp, self._response = self._response, None
            if resp is not None and resp.task is not None:
                resp.task.cancel()
                await asyncio.gather(resp.task, return_exceptions=True)
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
        except (ConnectionClosed, _Gone):
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

    def _new_id(self, prefix: str) -> str:
        return f"{prefix}_{self._tag}{next(self._ids):06d}"

    async def _write(self, text: str) -> None:
        try:
            async with asyncio.timeout(SEND_TIMEOUT_S):
                await self._ws.send(text)
        except TimeoutError:
            log.warning("sim_send_timeout", session_id=self.id)
            self.abort()
            raise _Gone from None

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

    # --- session and input audio -----------------------------------------------------------

    def _configure_vad(self) -> None:
        audio_in = self._config["audio"]["input"]
        td, fmt = audio_in["turn_detection"], audio_in["format"]["type"]
        key = None if td is None else (fmt, *sorted((k, str(v)) for k, v in td.items()))
        if key == self._vad_key:
            return
        self._vad_key = key
        self._pending_user_item = None
        if td is None:
            self._vad = None
            return
        silence = td["silence_duration_ms"] if td["type"] == "server_vad" else SEMANTIC_SILENCE_MS
        self._vad = EnergyVad(
            threshold=td.get("threshold", 0.5),
            prefix_padding_ms=td.get("prefix_padding_ms", 300),
            silence_duration_ms=silence,
            audio_format=fmt,
        )
        self._vad.reset(int(self._clock_ms))

    async def _on_session_update(self, event: dict[str, Any], now: float) -> None:
        self._config = apply_session_update(
            self._config, event.get("session"), voice_locked=self._voice_locked
        )
        self.session_config = copy.deepcopy(event["session"])
        self._configure_vad()
        await self._send({"type": "session.updated", "session": copy.deepcopy(self._config)})

    async def _on_input_audio_buffer_append(self, event: dict[str, Any], now: float) -> None:
        payload = event.get("audio")
        if not isinstance(payload, str):
            raise RequestError(
                "missing_required_parameter", "Missing required parameter: 'audio'.", "audio"
            )
        try:
            audio = base64.b64decode(payload, validate=True)
        except (binascii.Error, ValueError):
            raise RequestError(
                "invalid_value", "Invalid 'audio'. Expected base64-encoded audio.", "audio"
            ) from None
        self.audio_in += audio
        self.append_times.append((now, payload))
        start_ms = self._clock_ms
        input_format = self._config["audio"]["input"]["format"]["type"]
        self._clock_ms += len(audio) / BYTES_PER_MS[input_format]
        if self._vad is None:
            return
        for vad_event in self._vad.feed(audio, int(start_ms)):
            if isinstance(vad_event, SpeechStarted):
                await self._on_speech_started(vad_event.audio_start_ms)
            else:
                await self._on_speech_stopped(vad_event.audio_end_ms)

    async def _on_speech_started(self, audio_start_ms: int) -> None:
        self._pending_user_item = self._new_id("item")
        await self._send(
            {
                "type": "input_audio_buffer.speech_started",
                "audio_start_ms": audio_start_ms,
                "item_id": self._pending_user_item,
            }
        )
        td = self._config["audio"]["input"]["turn_detection"]
        if self._response is not None and td is not None and td.get("interrupt_response", True):
            await self._cancel_response("turn_detected")

    async def _on_speech_stopped(self, audio_end_ms: int) -> None:
        item_id = self._pending_user_item or self._new_id("item")
        self._pending_user_item = None
        await self._send(
            {
                "type": "input_audio_buffer.speech_stopped",
                "audio_end_ms": audio_end_ms,
                "item_id": item_id,
            }
        )
        self._buffer_start_ms = float(audio_end_ms)
        await self._commit(item_id)
        td = self._config["audio"]["input"]["turn_detection"]
        if td is not None and td.get("create_response", True):
            if self._response is None:
                self._start_response(None)
            else:
                log.info("sim_turn_response_skipped", session_id=self.id)

    async def _commit(self, item_id: str) -> None:
        previous = self._items[-1]["id"] if self._items else None
        await self._send(
            {
                "type": "input_audio_buffer.committed",
                "item_id": item_id,
                "previous_item_id": previous,
            }
        )
        item: dict[str, Any] = {
            "id": item_id,
            "object": "realtime.item",
            "type": "message",
            "status": "completed",
            "role": "user",
            "content": [{"type": "input_audio", "transcript": None}],
        }
        await self._add_item(item, previous)
        transcripts = self.script.transcripts
        transcript = (
            transcripts[self._transcript_i] if self._transcript_i < len(transcripts) else INAUDIBLE
        )
        self._transcript_i += 1
        item["content"][0]["transcript"] = transcript
        if self._config["audio"]["input"].get("transcription") is not None:
            tokens = len(transcript) // 4 + 1
            await self._send(
                {
                    "type": "conversation.item.input_audio_transcription.completed",
                    "item_id": item_id,
                    "content_index": 0,
                    "transcript": transcript,
                    "usage": {
                        "type": "tokens",
                        "input_tokens": 50,
                        "output_tokens": tokens,
                        "total_tokens": 50 + tokens,
                    },
                }
            )

    async def _add_item(
        self, item: dict[str, Any], previous: str | None, position: int | None = None
    ) -> None:
        self._items.insert(len(self._items) if position is None else position, item)
        for kind in ("conversation.item.added", "conversation.item.done"):
            await self._send(
                {"type": kind, "previous_item_id": previous, "item": copy.deepcopy(item)}
            )

    async def _on_input_audio_buffer_commit(self, event: dict[str, Any], now: float) -> None:
        buffered = self._clock_ms - self._buffer_start_ms
        if buffered < 100:
            raise RequestError(
                "input_audio_buffer_commit_empty",
                "Error committing input audio buffer: buffer too small. Expected at least 100ms "
                f"of audio, but buffer only has {buffered:.2f}ms of audio.",
            )
        item_id = self._pending_user_item or self._new_id("item")
        self._pending_user_item = None
        self._buffer_start_ms = self._clock_ms
        if self._vad is not None:
            self._vad.reset(int(self._clock_ms))
        await self._commit(item_id)

    async def _on_input_audio_buffer_clear(self, event: dict[str, Any], now: float) -> None:
        self._buffer_start_ms = self._clock_ms
        self._pending_user_item = None
        if self._vad is not None:
            self._vad.reset(int(self._clock_ms))
        await self._send({"type": "input_audio_buffer.cleared"})

    # --- conversation items ------------------------------------------------------------------

    def _find(self, item_id: object) -> tuple[int, dict[str, Any]]:
        for i, item in enumerate(self._items):
            if item["id"] == item_id:
                return i, item
        raise RequestError(
            "invalid_value", f"Conversation item with id '{item_id}' not found.", "item_id"
        )

    async def _on_conversation_item_create(self, event: dict[str, Any], now: float) -> None:
        raw = event.get("item")
        wanted = raw.get("id") if isinstance(raw, dict) else None
        if wanted is not None and (
            not isinstance(wanted, str) or any(i["id"] == wanted for i in self._items)
        ):
            raise RequestError(
                "invalid_value", f"Invalid 'item.id': '{wanted}' is not available.", "item.id"
            )
        item = normalize_client_item(raw, wanted or self._new_id("item"))
        if item["type"] == "function_call_output" and not any(
            i["type"] == "function_call" and i.get("call_id") == item["call_id"]
            for i in self._items
        ):
            raise RequestError(
                "invalid_value",
                f"Tool call ID '{item['call_id']}' not found in conversation.",
                "item.call_id",
            )
        prev_id = event.get("previous_item_id")
        if prev_id is None:
            position, previous = None, (self._items[-1]["id"] if self._items else None)
        elif prev_id == "root":
            position, previous = 0, None
        else:
            try:
                index, _ = self._find(prev_id)
            except RequestError:
                raise RequestError(
                    "invalid_value",
                    f"Previous item with id '{prev_id}' not found.",
                    "previous_item_id",
                ) from None
            position, previous = index + 1, prev_id
        await self._add_item(item, previous, position)

    async def _on_conversation_item_delete(self, event: dict[str, Any], now: float) -> None:
        index, item = self._find(event.get("item_id"))
        del self._items[index]
        self._audio.pop(item["id"], None)
        await self._send({"type": "conversation.item.deleted", "item_id": item["id"]})

    async def _on_conversation_item_retrieve(self, event: dict[str, Any], now: float) -> None:
        _, item = self._find(event.get("item_id"))
        await self._send({"type": "conversation.item.retrieved", "item": copy.deepcopy(item)})

    async def _on_conversation_item_truncate(self, event: dict[str, Any], now: float) -> None:
        _, item = self._find(event.get("item_id"))
        end_ms, index = event.get("audio_end_ms"), event.get("content_index", 0)
        info = self._audio.get(item["id"])
        if info is None:
            raise RequestError(
                "invalid_value", "Only model output audio messages can be truncated", "item_id"
            )
        if index != 0:
            raise RequestError(
                "invalid_value", f"Invalid 'content_index': {index}.", "content_index"
            )
        if isinstance(end_ms, bool) or not isinstance(end_ms, int):
            raise RequestError(
                "invalid_type",
                "Invalid type for 'audio_end_ms': expected an integer.",
                "audio_end_ms",
            )
        if end_ms < 0:
            raise RequestError(
                "integer_below_min_value",
                "Invalid 'audio_end_ms': integer below "
                f"minimum value. Expected a value >= 0, but got {end_ms} instead.",
                "audio_end_ms",
            )
        if end_ms > info.generated_ms:
            raise RequestError(
                "invalid_value",
                f"Audio content of {info.generated_ms}ms is already shorter than {end_ms}ms",
                "audio_end_ms",
            )
        info.generated_ms = end_ms
        keep = round(len(info.text) * end_ms / max(1, info.full_ms))
        part = item["content"][0]
        part["transcript"] = (part.get("transcript") or "")[:keep]
        await self._send(
            {
                "type": "conversation.item.truncated",
                "item_id": item["id"],
                "content_index": 0,
                "audio_end_ms": end_ms,
            }
        )

    # --- responses ---------------------------------------------------------------------------

    async def _on_response_create(self, event: dict[str, Any], now: float) -> None:
        params = event.get("response")
        if params is not None and not isinstance(params, dict):
            raise RequestError(
                "invalid_type", "Invalid type for 'response': expected an object.", "response"
            )
        if self._response is not None:
            raise RequestError(
                "conversation_already_has_active_response",
                f"Conversation already has an active response in progress: {self._response.id}. "
                "Wait until the response is finished before creating a new one.",
            )
        self._start_response(params)

    async def _on_response_cancel(self, event: dict[str, Any], now: float) -> None:
        wanted = event.get("response_id")
        if self._response is None or (wanted is not None and wanted != self._response.id):
            raise RequestError(
                "response_cancel_not_active", "Cancellation failed: no active response found"
            )
        await self._cancel_response("client_cancelled")

    async def _cancel_response(self, reason: str) -> None:
        resp = self._response
        if resp is None or resp.task is None:
            return
        resp.request_cancel(reason)
        # The task ends itself with response.done; if the client stops reading it is aborted.
        await asyncio.wait({resp.task}, timeout=2 * SEND_TIMEOUT_S)

    def _next_reply(self) -> Reply:
        replies = self.script.replies
        reply = replies[self._reply_i] if self._reply_i < len(replies) else Reply(FALLBACK_REPLY)
        self._reply_i += 1
        return reply

    def _start_response(self, params: dict[str, Any] | None) -> None:
        params = params or {}
        forced = quoted_reply(params.get("instructions"))
        plan = [Reply(forced)] if forced is not None else []
        if not plan:
            reply = self._next_reply()
            if reply.function is not None and reply.text:
                plan = [Reply(reply.text), reply]
            else:
                plan = [reply]
        out_cfg = self._config["audio"]["output"]
        modalities = params.get("output_modalities") or self._config["output_modalities"]
        resp = _Response(
            id=self._new_id("resp"),
            plan=plan,
            in_conversation=params.get("conversation", "auto") != "none",
            modalities=list(modalities),
            audio_format=dict(out_cfg["format"]),
            voice=out_cfg["voice"],
            metadata=params.get("metadata"),
        )
        self._response = resp
        resp.task = asyncio.create_task(self._run_response(resp), name=f"sim-{resp.id}")

    async def _nap(self, resp: _Response, seconds: float) -> None:
        if seconds <= 0 or resp.cancel_reason is not None:
            return
        loop = asyncio.get_running_loop()
        resp.waker = loop.create_future()
        handle = loop.call_later(seconds, _resolve, resp.waker)
        try:
            await resp.waker
        finally:
            handle.cancel()
            resp.waker = None

    async def _model_latency(self, resp: _Response) -> None:
        """Wait `first_audio_delay_ms` once per response, before its first delta of any kind."""
        if resp.latency_pending:
            resp.latency_pending = False
            await self._nap(resp, self._sim.first_audio_delay_ms / 1000)

    async def _run_response(self, resp: _Response) -> None:
        try:
            await self._send({"type": "response.created", "response": resp.snapshot("in_progress")})
            await self._send(
                {
                    "type": "rate_limits.updated",
                    "rate_limits": [
                        {
                            "name": "requests",
                            "limit": 5000,
                            "remaining": 4999,
                            "reset_seconds": 0.012,
                        },
                        {
                            "name": "tokens",
                            "limit": 40000,
                            "remaining": 38000,
                            "reset_seconds": 3.0,
                        },
                    ],
                }
            )
            for index, reply in enumerate(resp.plan):
                if resp.cancel_reason is not None:
                    break
                if reply.function is not None:
                    await self._stream_call(resp, index, reply)
                else:
                    await self._stream_message(resp, index, reply.text)
            status = "completed" if resp.cancel_reason is None else "cancelled"
            if self._response is resp:
                self._response = None
            await self._send({"type": "response.done", "response": resp.snapshot(status)})
            log.info("sim_response_done", session_id=self.id, response_id=resp.id, status=status)
        except (ConnectionClosed, _Gone):
            pass
        except Exception:
            log.exception("sim_response_failed", session_id=self.id, response_id=resp.id)
        finally:
            if self._response is resp:
                self._response = None

    async def _open_item(self, resp: _Response, index: int, item: dict[str, Any]) -> None:
        previous = self._items[-1]["id"] if self._items else None
        await self._send(
            {
                "type": "response.output_item.added",
                "response_id": resp.id,
                "output_index": index,
                "item": copy.deepcopy(item),
            }
        )
        if resp.in_conversation:
            self._items.append(item)
            await self._send(
                {
                    "type": "conversation.item.added",
                    "previous_item_id": previous,
                    "item": copy.deepcopy(item),
                }
            )

    async def _close_item(self, resp: _Response, index: int, item: dict[str, Any]) -> None:
        resp.output.append(copy.deepcopy(item))
        await self._send(
            {
                "type": "response.output_item.done",
                "response_id": resp.id,
                "output_index": index,
                "item": copy.deepcopy(item),
            }
        )
        if resp.in_conversation:
            await self._send({"type": "conversation.item.done", "item": copy.deepcopy(item)})

    async def _stream_call(self, resp: _Response, index: int, reply: Reply) -> None:
        item: dict[str, Any] = {
            "id": self._new_id("item"),
            "object": "realtime.item",
            "type": "function_call",
            "status": "in_progress",
            "name": reply.function,
            "call_id": self._new_id("call"),
            "arguments": "",
        }
        await self._open_item(resp, index, item)
        ids = {
            "response_id": resp.id,
            "item_id": item["id"],
            "output_index": index,
            "call_id": item["call_id"],
        }
        await self._model_latency(resp)
        if resp.cancel_reason is not None:  # cancelled while "thinking": no arguments at all
            item["status"] = "incomplete"
            await self._close_item(resp, index, item)
            return
        await self._send(
            {"type": "response.function_call_arguments.delta", **ids, "delta": reply.arguments}
        )
        await self._send(
            {
                "type": "response.function_call_arguments.done",
                **ids,
                "name": reply.function,
                "arguments": reply.arguments,
            }
        )
        item |= {"status": "completed", "arguments": reply.arguments}
        await self._close_item(resp, index, item)

    async def _stream_message(self, resp: _Response, index: int, text: str) -> None:
        audio = "audio" in resp.modalities
        item: dict[str, Any] = {
            "id": self._new_id("item"),
            "object": "realtime.item",
            "type": "message",
            "status": "in_progress",
            "role": "assistant",
            "content": [],
        }
        await self._open_item(resp, index, item)
        ids = {
            "response_id": resp.id,
            "item_id": item["id"],
            "output_index": index,
            "content_index": 0,
        }
        await self._send(
            {
                "type": "response.content_part.added",
                **ids,
                "part": {"type": "audio", "transcript": ""}
                if audio
                else {"type": "text", "text": ""},
            }
        )
        spoken = await (
            self._stream_audio(resp, item["id"], index, text)
            if audio
            else self._stream_text(resp, ids, text)
        )
        resp.text_chars += len(spoken)
        if audio:
            await self._send({"type": "response.output_audio.done", **ids})
            await self._send(
                {"type": "response.output_audio_transcript.done", **ids, "transcript": spoken}
            )
            part: dict[str, Any] = {"type": "output_audio", "transcript": spoken}
        else:
            await self._send({"type": "response.output_text.done", **ids, "text": spoken})
            part = {"type": "output_text", "text": spoken}
        await self._send(
            {
                "type": "response.content_part.done",
                **ids,
                "part": {"type": "audio", "transcript": spoken}
                if audio
                else {"type": "text", "text": spoken},
            }
        )
        item["content"] = [part]
        item["status"] = "completed" if resp.cancel_reason is None else "incomplete"
        await self._close_item(resp, index, item)

    async def _stream_text(self, resp: _Response, ids: dict[str, Any], text: str) -> str:
        await self._model_latency(resp)
        if resp.cancel_reason is None:
            await self._send({"type": "response.output_text.delta", **ids, "delta": text})
            return text
        return ""

    async def _stream_audio(self, resp: _Response, item_id: str, index: int, text: str) -> str:
        sim = self._sim
        rendered = render_reply_audio(text, resp.audio_format["type"], sim.chunk_ms)
        info = _AudioInfo(text=text, full_ms=rendered.total_ms)
        if resp.in_conversation:
            self._audio[item_id] = info
        loop = asyncio.get_running_loop()
        await self._model_latency(resp)
        started, out_ms = loop.time(), 0
        sent_chars = 0
        for chunk, chunk_ms in zip(rendered.chunks, rendered.chunk_ms, strict=True):
            if resp.cancel_reason is not None:
                break
            if sim.pace > 0:
                await self._nap(resp, started + out_ms / 1000 / sim.pace - loop.time())
                if resp.cancel_reason is not None:
                    break
            else:
                await asyncio.sleep(0)
            self._voice_locked = True
            await self._send(
                {
                    "type": "response.output_audio.delta",
                    "response_id": resp.id,
                    "item_id": item_id,
                    "output_index": index,
                    "content_index": 0,
                    "delta": chunk,
                },
                record=sim.record_audio_events,
            )
            out_ms += chunk_ms
            info.generated_ms += chunk_ms
            resp.audio_ms += chunk_ms
            target = self._transcript_upto(text, out_ms, rendered.total_ms)
            if target > sent_chars:
                await self._send(
                    {
                        "type": "response.output_audio_transcript.delta",
                        "response_id": resp.id,
                        "item_id": item_id,
                        "output_index": index,
                        "content_index": 0,
                        "delta": text[sent_chars:target],
                    }
                )
                sent_chars = target
        return text[:sent_chars]

    @staticmethod
    def _transcript_upto(text: str, done_ms: int, total_ms: int) -> int:
        """Characters of `text` to have sent once `done_ms` of audio is out (word aligned)."""
        if done_ms >= total_ms:
            return len(text)
        target = len(text) * done_ms // max(1, total_ms)
        space = text.rfind(" ", 0, target + 1)
        return space + 1 if space >= 0 else 0


def abort_connection(ws: ServerConnection) -> None:
    """Cut a connection's TCP socket without a close frame. picows' compatible connection keeps
    its WebSocket transport private, so it is found among the connection's own references."""
    for ref in gc.get_referents(ws):
        if isinstance(ref, picows.WSTransport):
            ref.underlying_transport.abort()
            return
    raise RuntimeError("no transport found on the connection: it cannot be aborted")


def _json_response(
    connection: ServerHandshakeConnection,
    status: int,
    message: str,
    code: str | None,
    error_type: str = "invalid_request_error",
) -> Response:
    body = json.dumps(
        {"error": {"message": message, "type": error_type, "param": None, "code": code}}
    )
    response = connection.respond(status, body)
    del response.headers["Content-Type"]
    response.headers["Content-Type"] = "application/json"
    return response


_FAILURES = {
    401: ("Incorrect API key provided.", "invalid_api_key", "invalid_request_error"),
    403: (
        "You are not allowed to access this resource.",
        "unsupported_country_region_territory",
        "invalid_request_error",
    ),
    429: ("Rate limit reached for requests.", "rate_limit_exceeded", "requests"),
    500: ("The server had an error while processing your request.", None, "server_error"),
    503: ("The engine is currently overloaded, please try again later.", None, "server_error"),
}


class RealtimeSimulator:
    """The simulator server: routes handshakes, owns the scripts and every `SimSession`.

    `stop()` closes every session (code 1001) and waits for their handlers; `drop_all()` cuts
    live sockets without a close frame, as a network failure or a crashed upstream would.
    `record_audio_events=False` keeps input appends out of `SimSession.received` and audio
    deltas out of `SimSession.sent` (long benchmarks: memory); `append_times` and `audio_in`
    are always kept.
    """

    def __init__(
        self,
        *,
        api_keys: set[str] | None = None,
        chunk_ms: int = 100,
        pace: float = 4.0,
        first_audio_delay_ms: int = 0,
        default_script: Script | None = None,
        record_audio_events: bool = True,
    ) -> None:
        if chunk_ms <= 0 or pace < 0 or first_audio_delay_ms < 0:
            raise ValueError("chunk_ms must be > 0, pace and first_audio_delay_ms >= 0")
        self.api_keys = api_keys
        self.chunk_ms, self.pace, self.first_audio_delay_ms = chunk_ms, pace, first_audio_delay_ms
        self.default_script = default_script
        self.record_audio_events = record_audio_events
        self.sessions: list[SimSession] = []
        self.port = 0
        self._host = "127.0.0.1"
        self._scripts: list[tuple[str, Script]] = []
        self._failures: deque[int] = deque()
        self._server: Server | None = None
        if default_script is not None:
            self._warm(default_script)

    @property
    def base_url(self) -> str:
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"http://{host}:{self.port}/v1"

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._host = host
        self._server = await serve(
            self._handle,
            host,
            port,
            process_request=self._process_request,
            max_size=MAX_MESSAGE_BYTES,
            compression=None,
            open_timeout=10,
            close_timeout=CLOSE_TIMEOUT_S,
            ping_interval=20,
            ping_timeout=20,
        )
        self.port = self._server.sockets[0].getsockname()[1]
        log.info("sim_realtime_started", base_url=self.base_url)

    async def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.close(close_connections=True)
        try:
            async with asyncio.timeout(2 * CLOSE_TIMEOUT_S):
                await server.wait_closed()
        except TimeoutError:
            log.warning("sim_realtime_stop_timeout")
            self.drop_all()
        log.info("sim_realtime_stopped", sessions=len(self.sessions))

    async def __aenter__(self) -> RealtimeSimulator:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    @staticmethod
    def _warm(script: Script) -> None:
        for reply in script.replies:
            speech_for(reply.text)

    def add_script(self, match: str, script: Script) -> None:
        """Sessions whose instructions contain `match` follow `script` (first match wins).

        Registering the same `match` again replaces its script in place: sessions opened later
        (say, after a reconnect) follow the new one; sessions that already used theirs keep it.
        """
        entries = [(m, s) if m != match else (m, script) for m, s in self._scripts]
        if not any(m == match for m, _ in self._scripts):
            entries.append((match, script))
        self._scripts = entries
        self._warm(script)

    def script_for(self, instructions: str) -> Script:
        for match, script in self._scripts:
            if match in instructions:
                return script
        return self.default_script or Script()

    def live_sessions(self) -> Iterator[SimSession]:
        return (s for s in self.sessions if not s.closed)

    def drop_all(self) -> None:
        for session in list(self.live_sessions()):
            session.abort()

    def fail_next_session(self, status: int = 401) -> None:
        """Reject the next realtime handshake with HTTP `status` (calls queue up)."""
        self._failures.append(status)

    def _process_request(
        self, connection: ServerHandshakeConnection, request: Request
    ) -> Response | None:
        url = urlsplit(request.path)
        if url.path == CONTROL_PATH:
            return None
        if url.path != REALTIME_PATH:
            return _json_response(connection, 404, f"Invalid URL (GET {url.path})", None)
        if self._failures:
            status = self._failures.popleft()
            message, code, kind = _FAILURES.get(
                status, (HTTPStatus(status).phrase, None, "invalid_request_error")
            )
            log.info("sim_handshake_failed_on_purpose", status=status)
            return _json_response(connection, status, message, code, kind)
        auth = request.headers.get("Authorization", "")
        key = auth[7:].strip() if auth.startswith("Bearer ") else ""
        if not key or (self.api_keys is not None and key not in self.api_keys):
            masked = f"{key[:3]}***{key[-4:]}" if len(key) > 8 else "***"
            log.info("sim_handshake_unauthorized")
            return _json_response(
                connection,
                401,
                f"Incorrect API key provided: {masked}. You can find your API "
                "key at https://platform.openai.com/account/api-keys.",
                "invalid_api_key",
            )
        if not parse_qs(url.query).get("model", [""])[0]:
            return _json_response(
                connection,
                400,
                "Missing required parameter: 'model'.",
                "missing_required_parameter",
            )
        return None

    async def _handle(self, ws: ServerConnection) -> None:
        assert ws.request is not None
        url = urlsplit(ws.request.path)
        if url.path == CONTROL_PATH:
            await self._handle_control(ws)
            return
        session = SimSession(self, ws, parse_qs(url.query)["model"][0])
        self.sessions.append(session)
        await session.run()

    async def _handle_control(self, ws: ServerConnection) -> None:
        try:
            async with asyncio.timeout(SEND_TIMEOUT_S):
                raw = await ws.recv()
                try:
                    match, script = script_from_json(json.loads(raw))
                except (ValueError, UnicodeDecodeError) as exc:
                    await ws.send(json.dumps({"ok": False, "error": str(exc)}))
                    return
                self.add_script(match, script)
                log.info(
                    "sim_script_registered",
                    pii_match=match,
                    transcripts=len(script.transcripts),
                    replies=len(script.replies),
                )
                await ws.send(json.dumps({"ok": True}))
        except (TimeoutError, ConnectionClosed):
            log.info("sim_control_aborted")


async def register_script(base_url: str, match: str, script: Script) -> None:
    """Register `script` with a simulator running in another process (via `/control`)."""
    timeout = SEND_TIMEOUT_S
    parts = urlsplit(base_url)
    scheme = "wss" if parts.scheme in ("https", "wss") else "ws"
    async with (
        asyncio.timeout(timeout),
        connect(f"{scheme}://{parts.netloc}{CONTROL_PATH}", open_timeout=timeout) as ws,
    ):
        await ws.send(json.dumps(script_to_json(match, script)))
        reply = json.loads(await ws.recv())
    if not isinstance(reply, dict) or reply.get("ok") is not True:
        raise RuntimeError(f"script registration refused: {reply!r}")


async def run_standalone(
    port: int,
    host: str = "127.0.0.1",
    *,
    pace: float = 4.0,
    chunk_ms: int = 100,
    first_audio_delay_ms: int = 0,
) -> None:
    """Run a simulator until cancelled, logging its base URL (for `neurosphere sim realtime`)."""
    sim = RealtimeSimulator(pace=pace, chunk_ms=chunk_ms, first_audio_delay_ms=first_audio_delay_ms)
    await sim.start(host, port)
    log.info(
        "sim_realtime_listening",
        base_url=sim.base_url,
        hint="export OPENAI_BASE_URL=" + sim.base_url,
    )
    try:
        await asyncio.Event().wait()
    finally:
        await sim.stop()


async def serve_forever(port: int) -> None:
    await run_standalone(port)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="neurosphere sim realtime", description="Run the OpenAI Realtime simulator."
    )
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument(
        "--pace",
        type=float,
        default=4.0,
        help="output audio speed vs real time (0: as fast as possible)",
    )
    parser.add_argument("--chunk-ms", type=int, default=100)
    parser.add_argument("--first-audio-delay-ms", type=int, default=0)
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(
            run_standalone(
                args.port,
                args.host,
                pace=args.pace,
                chunk_ms=args.chunk_ms,
                first_audio_delay_ms=args.first_audio_delay_ms,
            )
        )
    return 0
