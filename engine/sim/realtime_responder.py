"""Runs a simulated session's responses: at most one at a time, as a task paced on the loop clock.

No I/O of its own: events go out through the session's `Send`. A response follows the next
scripted `Reply` (or the quoted text in `response.create` instructions), streams a function call
or a message (audio deltas with a word-aligned transcript, or text), and watches its cancel
flag, so a cancel (client or barge-in) always ends with a coherent `response.done`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

import structlog
from picows.websockets.exceptions import ConnectionClosed

from engine.sim.realtime_conversation import AudioInfo, Conversation
from engine.sim.realtime_outbox import SEND_TIMEOUT_S, Gone, IdSource, Send, resolve
from engine.sim.realtime_reply_audio import render_reply_audio
from engine.sim.realtime_response import Response
from engine.sim.realtime_script import FALLBACK_REPLY, Reply, quoted_reply
from engine.sim.realtime_session_config import SessionConfig
from engine.sim.realtime_settings import SimulatorSettings
from engine.sim.realtime_validation import RequestError

log = structlog.get_logger("engine.sim.realtime")


def _rate_limits() -> list[dict[str, Any]]:
    return [
        {"name": "requests", "limit": 5000, "remaining": 4999, "reset_seconds": 0.012},
        {"name": "tokens", "limit": 40000, "remaining": 38000, "reset_seconds": 3.0},
    ]


class Responder:
    """The active response (`active`), the script's reply cursor, and the response task."""

    def __init__(
        self,
        sim: SimulatorSettings,
        session_id: str,
        config: SessionConfig,
        conversation: Conversation,
        send: Send,
        new_id: IdSource,
        replies: Callable[[], Sequence[Reply]],
    ) -> None:
        self._sim, self._session_id, self._config = sim, session_id, config
        self._conversation, self._send, self._new_id = conversation, send, new_id
        self._replies = replies
        self._reply_i = 0
        self.active: Response | None = None

    # --- client events ---------------------------------------------------------------------

    async def create(self, event: dict[str, Any]) -> None:
        params = event.get("response")
        if params is not None and not isinstance(params, dict):
            raise RequestError(
                "invalid_type", "Invalid type for 'response': expected an object.", "response"
            )
        if self.active is not None:
            raise RequestError(
                "conversation_already_has_active_response",
                f"Conversation already has an active response in progress: {self.active.id}. "
                "Wait until the response is finished before creating a new one.",
            )
        self.start(params)

    async def cancel_requested(self, event: dict[str, Any]) -> None:
        wanted = event.get("response_id")
        if self.active is None or (wanted is not None and wanted != self.active.id):
            raise RequestError(
                "response_cancel_not_active", "Cancellation failed: no active response found"
            )
        await self.cancel("client_cancelled")

    # --- lifecycle -------------------------------------------------------------------------

    async def cancel(self, reason: str) -> None:
        resp = self.active
        if resp is None or resp.task is None:
            return
        resp.request_cancel(reason)
        # The task ends itself with response.done; if the client stops reading it is aborted.
        await asyncio.wait({resp.task}, timeout=2 * SEND_TIMEOUT_S)

    async def shutdown(self) -> None:
        """The socket is gone: stop the response task, if any, and wait for it."""
        resp, self.active = self.active, None
        if resp is not None and resp.task is not None:
            resp.task.cancel()
            await asyncio.gather(resp.task, return_exceptions=True)

    def _next_reply(self) -> Reply:
        replies = self._replies()
        reply = replies[self._reply_i] if self._reply_i < len(replies) else Reply(FALLBACK_REPLY)
        self._reply_i += 1
        return reply

    def start(self, params: dict[str, Any] | None) -> None:
        params = params or {}
        forced = quoted_reply(params.get("instructions"))
        plan = [Reply(forced)] if forced is not None else []
        if not plan:
            reply = self._next_reply()
            if reply.function is not None and reply.text:
                plan = [Reply(reply.text), reply]
            else:
                plan = [reply]
        out_cfg = self._config.audio_output
        modalities = params.get("output_modalities") or self._config.current["output_modalities"]
        resp = Response(
            id=self._new_id("resp"),
            plan=plan,
            in_conversation=params.get("conversation", "auto") != "none",
            modalities=list(modalities),
            audio_format=dict(out_cfg["format"]),
            voice=out_cfg["voice"],
            metadata=params.get("metadata"),
        )
        self.active = resp
        resp.task = asyncio.create_task(self._run(resp), name=f"sim-{resp.id}")

    # --- pacing ----------------------------------------------------------------------------

    async def nap(self, resp: Response, seconds: float) -> None:
        """Sleep `seconds` on the loop clock, waking early if the response is cancelled."""
        if seconds <= 0 or resp.cancel_reason is not None:
            return
        loop = asyncio.get_running_loop()
        resp.waker = loop.create_future()
        handle = loop.call_later(seconds, resolve, resp.waker)
        try:
            await resp.waker
        finally:
            handle.cancel()
            resp.waker = None

    async def model_latency(self, resp: Response) -> None:
        """Wait `first_audio_delay_ms` once per response, before its first delta of any kind."""
        if resp.latency_pending:
            resp.latency_pending = False
            await self.nap(resp, self._sim.first_audio_delay_ms / 1000)

    # --- streaming -------------------------------------------------------------------------

    async def _run(self, resp: Response) -> None:
        try:
            await self._send({"type": "response.created", "response": resp.snapshot("in_progress")})
            await self._send({"type": "rate_limits.updated", "rate_limits": _rate_limits()})
            for index, reply in enumerate(resp.plan):
                if resp.cancel_reason is not None:
                    break
                if reply.function is not None:
                    await self._stream_call(resp, index, reply)
                else:
                    await self._stream_message(resp, index, reply.text)
            status = "completed" if resp.cancel_reason is None else "cancelled"
            if self.active is resp:
                self.active = None
            await self._send({"type": "response.done", "response": resp.snapshot(status)})
            log.info(
                "sim_response_done", session_id=self._session_id, response_id=resp.id, status=status
            )
        except (ConnectionClosed, Gone):
            pass
        except Exception:
            log.exception("sim_response_failed", session_id=self._session_id, response_id=resp.id)
        finally:
            if self.active is resp:
                self.active = None

    async def _stream_call(self, resp: Response, index: int, reply: Reply) -> None:
        item: dict[str, Any] = {
            "id": self._new_id("item"),
            "object": "realtime.item",
            "type": "function_call",
            "status": "in_progress",
            "name": reply.function,
            "call_id": self._new_id("call"),
            "arguments": "",
        }
        await self._conversation.open_output(resp, index, item)
        ids = {
            "response_id": resp.id,
            "item_id": item["id"],
            "output_index": index,
            "call_id": item["call_id"],
        }
        await self.model_latency(resp)
        if resp.cancel_reason is not None:  # cancelled while "thinking": no arguments at all
            item["status"] = "incomplete"
            await self._conversation.close_output(resp, index, item)
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
        await self._conversation.close_output(resp, index, item)

    async def _stream_message(self, resp: Response, index: int, text: str) -> None:
        audio = "audio" in resp.modalities
        item: dict[str, Any] = {
            "id": self._new_id("item"),
            "object": "realtime.item",
            "type": "message",
            "status": "in_progress",
            "role": "assistant",
            "content": [],
        }
        await self._conversation.open_output(resp, index, item)
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
        await self._conversation.close_output(resp, index, item)

    async def _stream_text(self, resp: Response, ids: dict[str, Any], text: str) -> str:
        await self.model_latency(resp)
        if resp.cancel_reason is None:
            await self._send({"type": "response.output_text.delta", **ids, "delta": text})
            return text
        return ""

    async def _stream_audio(self, resp: Response, item_id: str, index: int, text: str) -> str:
        sim = self._sim
        rendered = render_reply_audio(text, resp.audio_format["type"], sim.chunk_ms)
        info = AudioInfo(text=text, full_ms=rendered.total_ms)
        if resp.in_conversation:
            self._conversation.audio[item_id] = info
        loop = asyncio.get_running_loop()
        await self.model_latency(resp)
        started, out_ms = loop.time(), 0
        sent_chars = 0
        for chunk, chunk_ms in zip(rendered.chunks, rendered.chunk_ms, strict=True):
            if resp.cancel_reason is not None:
                break
            if sim.pace > 0:
                await self.nap(resp, started + out_ms / 1000 / sim.pace - loop.time())
                if resp.cancel_reason is not None:
                    break
            else:
                await asyncio.sleep(0)
            self._config.voice_locked = True
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
            target = transcript_upto(text, out_ms, rendered.total_ms)
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


def transcript_upto(text: str, done_ms: int, total_ms: int) -> int:
    """Characters of `text` to have sent once `done_ms` of audio is out (word aligned)."""
    if done_ms >= total_ms:
        return len(text)
    target = len(text) * done_ms // max(1, total_ms)
    space = text.rfind(" ", 0, target + 1)
    return space + 1 if space >= 0 else 0
