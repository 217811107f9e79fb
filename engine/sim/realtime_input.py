"""A simulated session's input audio buffer: its clock, the energy VAD and turn detection.

No I/O of its own: events go out through the session's `Send`. Appended audio advances the
input clock (ms of audio received); with turn detection on, the VAD (`engine.sim.vad`) finds
speech, which interrupts the active response and, once it stops, commits a user item (its
transcript is the script's next one) and starts a response. Manual `commit` and `clear` follow
the GA protocol's rules.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from typing import Any

import structlog

from engine.sim.realtime_conversation import Conversation
from engine.sim.realtime_outbox import IdSource, Send
from engine.sim.realtime_responder import Responder
from engine.sim.realtime_script import INAUDIBLE
from engine.sim.realtime_session_config import SessionConfig
from engine.sim.realtime_session_rules import SEMANTIC_SILENCE_MS
from engine.sim.realtime_validation import RequestError
from engine.sim.vad import BYTES_PER_MS, EnergyVad, SpeechStarted

log = structlog.get_logger("engine.sim.realtime")


def decode_append(event: dict[str, Any]) -> tuple[bytes, str]:
    """The audio of an `input_audio_buffer.append` event, and its base64 payload."""
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
    return audio, payload


class InputAudio:
    """The input clock, the uncommitted buffer's start, the VAD and the transcript cursor."""

    def __init__(
        self,
        session_id: str,
        config: SessionConfig,
        conversation: Conversation,
        responder: Responder,
        send: Send,
        new_id: IdSource,
        transcripts: Callable[[], Sequence[str]],
    ) -> None:
        self._session_id, self._config = session_id, config
        self._conversation, self._responder = conversation, responder
        self._send, self._new_id, self._transcripts = send, new_id, transcripts
        self._transcript_i = 0
        self._clock_ms = 0.0  # audio clock: ms of input audio received
        self._buffer_start_ms = 0.0
        self._vad: EnergyVad | None = None
        self._vad_key: tuple[Any, ...] | None = None
        self._pending_user_item: str | None = None
        self.configure()

    def configure(self) -> None:
        """Follow the session's turn detection (a new VAD only when its settings changed)."""
        audio_in = self._config.audio_input
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

    async def append(self, audio: bytes) -> None:
        """Take appended audio: advance the clock and act on what the VAD hears in it."""
        start_ms = self._clock_ms
        input_format = self._config.audio_input["format"]["type"]
        self._clock_ms += len(audio) / BYTES_PER_MS[input_format]
        if self._vad is None:
            return
        for vad_event in self._vad.feed(audio, int(start_ms)):
            if isinstance(vad_event, SpeechStarted):
                await self._speech_started(vad_event.audio_start_ms)
            else:
                await self._speech_stopped(vad_event.audio_end_ms)

    async def _speech_started(self, audio_start_ms: int) -> None:
        self._pending_user_item = self._new_id("item")
        await self._send(
            {
                "type": "input_audio_buffer.speech_started",
                "audio_start_ms": audio_start_ms,
                "item_id": self._pending_user_item,
            }
        )
        td = self._config.turn_detection
        if (
            self._responder.active is not None
            and td is not None
            and td.get("interrupt_response", True)
        ):
            await self._responder.cancel("turn_detected")

    async def _speech_stopped(self, audio_end_ms: int) -> None:
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
        td = self._config.turn_detection
        if td is not None and td.get("create_response", True):
            if self._responder.active is None:
                self._responder.start(None)
            else:
                log.info("sim_turn_response_skipped", session_id=self._session_id)

    async def _commit(self, item_id: str) -> None:
        previous = self._conversation.last_id()
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
        await self._conversation.add(item, previous)
        transcripts = self._transcripts()
        transcript = (
            transcripts[self._transcript_i] if self._transcript_i < len(transcripts) else INAUDIBLE
        )
        self._transcript_i += 1
        item["content"][0]["transcript"] = transcript
        if self._config.audio_input.get("transcription") is not None:
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

    # --- client events ---------------------------------------------------------------------

    async def commit(self) -> None:
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

    async def clear(self) -> None:
        self._buffer_start_ms = self._clock_ms
        self._pending_user_item = None
        if self._vad is not None:
            self._vad.reset(int(self._clock_ms))
        await self._send({"type": "input_audio_buffer.cleared"})
