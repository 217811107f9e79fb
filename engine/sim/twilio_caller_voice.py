"""What the simulated caller sends on each 20 ms tick of a media stream, and the conditions its
script steps wait for.

No I/O and no clock of its own: engine.sim.twilio_media's frame pump opens each tick
(`open_tick`), then takes the frame to send (`frame`); script steps `speak` an utterance (from
the first tick where its gate holds) or wait `until` a condition holds at a tick start.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from engine.sim.tick_waits import TickWaits
from engine.sim.twilio_stream_messages import SILENCE_PAYLOAD

Utterance = tuple[str, ...]  # base64 20 ms frames


class CallerVoice:
    """The utterance being spoken (one at a time) and the pending waits; `now_rel` is the time
    of the current tick, in seconds since the stream's `start`."""

    def __init__(self) -> None:
        self.now_rel = 0.0
        self.frames_sent = 0  # of the current (or last) utterance
        self._speech: Utterance | None = None
        self._speech_done: asyncio.Future[None] | None = None
        self._speech_gate: Callable[[], bool] | None = None
        self._waits = TickWaits()

    def open_tick(self, rel: float) -> Utterance | None:
        """Start the tick at `rel`: wake the waits whose condition holds; returns the utterance
        this tick continues (None: the caller is silent)."""
        self.now_rel = rel
        self._waits.wake()
        speech = self._speech
        if speech is not None and self._speech_gate is not None:
            if self._speech_gate():
                self._speech_gate = None
            else:
                speech = None
        return speech

    def frame(self, speech: Utterance | None) -> tuple[str, bool, asyncio.Future[None] | None]:
        """The payload of this tick, whether it starts the utterance, and the utterance's
        future when this is its last frame (set it once the frame is sent)."""
        if speech is None:
            return SILENCE_PAYLOAD, False, None
        i = self.frames_sent
        self.frames_sent = i + 1
        if self.frames_sent < len(speech):
            return speech[i], i == 0, None
        self._speech = None
        return speech[i], i == 0, self._speech_done

    async def until(self, pred: Callable[[], bool], timeout: float) -> None:
        """Return at the first tick start where `pred()` holds; TimeoutError after `timeout`."""
        await self._waits.until(pred, timeout)

    async def speak(
        self, payloads: Utterance, gate: Callable[[], bool] | None, timeout: float
    ) -> None:
        """Send `payloads` from the first tick where `gate()` holds (at once without one);
        returns once the last frame is sent; TimeoutError after `timeout`."""
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._speech, self.frames_sent, self._speech_done = payloads, 0, fut
        self._speech_gate = gate
        try:
            async with asyncio.timeout(timeout):
                await fut
        finally:
            if self._speech_done is fut:
                self._speech = self._speech_done = self._speech_gate = None
