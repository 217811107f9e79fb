"""One simulated model response: its plan, progress, cancel flag and `realtime.response` view.

Pure state, no I/O: `engine.sim.realtime_responder` runs it; `snapshot` renders it as the
`response` object of `response.created` and `response.done` (with usage once it is done).
"""

from __future__ import annotations

import asyncio
import copy
from dataclasses import dataclass, field
from typing import Any

from engine.sim.realtime_outbox import resolve
from engine.sim.realtime_script import Reply


@dataclass(eq=False, slots=True)
class Response:
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
            resolve(self.waker)

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
