"""Between the realtime model and a call's ElevenLabs voice (actors/tts_voice.py), inside the
call session. No I/O of its own: it routes the model's text to the voice, turns the voice's audio
into the audio events the call's state machine already knows (so it reaches Twilio untouched,
with marks, and barge-in measures what was heard), and holds each spoken answer's transcript and
end until its audio is all out, so the state machine sees the answer running while it plays.

On barge-in the voice is stopped and the answer in the model's conversation is replaced by the
words the caller heard (character timings). When the voice fails, the model's own voice takes
over for the call: the session is switched to audio output, the unspoken rest of the answer is
asked for, and the call's record says so.

State it owns: the voice and the held events (by response id).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import structlog

from actors.tts_voice import TtsVoice, voice_for
from actors.turn_writer import TurnWriter
from engine import call_events as ev
from engine import realtime_codec as rt
from engine.call_metrics import CallMetrics
from engine.config import EngineConfig, TenantConfig
from engine.session_open import GREETING_ITEM
from prompts import call_lines

GREETING = "greeting"  # the greeting's response id: no model response speaks it
Apply = Callable[[ev.CallEvent, int], Awaitable[None]]
Send = Callable[[str], bool]  # the model link's send: written at once


class VoiceRelay:
    def __init__(
        self,
        config: EngineConfig,
        tenant: TenantConfig,
        apply: Apply,
        send: Send,
        turns: TurnWriter,
        metrics: CallMetrics,
        log: structlog.typing.FilteringBoundLogger,
    ) -> None:
        self._tenant = tenant
        self._apply, self._send = apply, send
        self._turns, self._metrics, self._log = turns, metrics, log
        self._held: dict[str, list[rt.AgentTranscript | rt.ResponseDone]] = {}
        self.voice: TtsVoice | None = voice_for(config, tenant, self, log)

    @property
    def text_only(self) -> bool:
        """The model answers in text (the voice speaks it) rather than in its own voice."""
        return self.voice is not None and not self.voice.failed

    def warm(self) -> None:
        if self.voice is not None:
            self.voice.warm()  # its socket opens while Twilio connects

    async def intercept(self, event: rt.ServerEvent) -> bool:
        """Route a model event; True when it is held here (not for the state machine yet)."""
        voice = self.voice
        if voice is None:
            return False
        if isinstance(event, rt.TextDelta):
            await voice.text(event.response_id, event.item_id, event.delta)
        elif isinstance(event, rt.AgentTranscript | rt.ResponseDone) and voice.speaking(
            event.response_id
        ):
            self._held.setdefault(event.response_id, []).append(event)
            if isinstance(event, rt.ResponseDone):
                await voice.end(event.response_id)
            return True
        return False

    async def greet(self, text: str) -> None:
        """Speak the greeting (from the voice's cache when it said it before); its transcript
        is applied once it is all out, as an answer's is."""
        if self.voice is None:
            return
        self._held[GREETING] = [rt.AgentTranscript(GREETING, GREETING_ITEM, text)]
        await self.voice.say(GREETING, GREETING_ITEM, text)

    async def stop(self, response_id: str) -> None:
        if self.voice is not None:
            await self.voice.stop(response_id)

    async def cut(self, item_id: str, audio_end_ms: int) -> bool:
        """Cut a spoken answer at what the caller heard: the item is replaced by the words
        heard. False when the voice did not speak `item_id` (the model's own audio)."""
        voice = self.voice
        heard = voice.heard(item_id, audio_end_ms) if voice is not None else None
        if voice is None or heard is None:
            return False
        await voice.stop_item(item_id)  # no more of it: the caller has cut in
        self._log.info("agent_cut", item_id=item_id, pii_heard=heard)
        if heard:
            self._send(rt.assistant_text_after(item_id, heard))
        self._send(rt.item_delete(item_id))
        return True

    async def close(self) -> None:
        if self.voice is not None:
            await self.voice.close()

    # --- TtsListener ------------------------------------------------------------------------

    async def tts_audio(self, response_id: str, item_id: str, payload: str) -> None:
        await self._apply(rt.AudioDelta(response_id, item_id, payload), 0)

    async def tts_done(self, response_id: str) -> None:
        for held in self._held.pop(response_id, []):
            await self._apply(held, 0)

    async def tts_failed(self, response_id: str, unspoken_text: str, reason: str) -> None:
        """The voice failed for the call: the model's own voice says the rest of the answer
        and every answer after it."""
        self._turns.add("system", "voice fallback: the model's own voice", {"reason": reason})
        self._send(rt.own_voice(self._tenant.voice))
        await self.tts_done(response_id)
        if unspoken_text.strip():
            await self._apply(ev.RequestResponse(call_lines.rest_of_answer(unspoken_text)), 0)
