"""A simulated caller's side of the conversation, frame by frame.

Like a person on the phone: it waits for the greeting, then talks in turns (a pause, an
utterance, the agent's answer) and sometimes barges in on the answer. The agent's audio is
played out through Twilio's playback buffer (`engine.sim.twilio_playback.Playback`); the media
pump asks `next_payload` for each 20 ms frame it sends, which also wakes whatever waits for a
condition on the playback (the agent done, a barge-in point).

Pure but for asyncio futures: no I/O; the media stream (`bench.caller`) does the sending.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable

from bench.load_spec import Behaviour
from bench.records import StreamRecord
from engine.audio import BYTES_PER_MS
from engine.sim.tick_waits import TickWaits
from engine.sim.twilio_playback import Playback
from engine.sim.twilio_stream_messages import SILENCE_PAYLOAD


class Conversation:
    """What one caller says and when; owns the call's playback buffer and its waiters."""

    def __init__(
        self,
        behaviour: Behaviour,
        rng: random.Random,
        utterances: tuple[tuple[str, ...], ...],
        barge_utterance: tuple[str, ...],
        rec: StreamRecord,
    ) -> None:
        self.behaviour = behaviour
        self.rng = rng
        self.utterances = utterances
        self.barge_utterance = barge_utterance
        self.rec = rec
        self.pb = Playback()
        self.now_rel = 0.0
        self.speech: tuple[str, ...] | None = None
        self.speech_i = 0
        self.speech_done: asyncio.Future[None] | None = None
        self.waits = TickWaits()

    def next_payload(self, rel: float) -> str:
        """The caller's audio for the frame at `rel` seconds into the stream (after the
        playback's marks up to then): wakes the waiters whose condition holds, then gives the
        next frame of the utterance being said, or silence."""
        self.now_rel = rel
        self.waits.wake()
        speech = self.speech
        if speech is None:
            return SILENCE_PAYLOAD
        payload = speech[self.speech_i]
        self.speech_i += 1
        if self.speech_i >= len(speech):
            self.speech = None
            if self.speech_done is not None and not self.speech_done.done():
                self.speech_done.set_result(None)
        return payload

    def _agent_done(self) -> bool:
        pb, end = self.pb, self.pb.last_play_end
        quiet = self.behaviour.quiet_ms / 1000
        return (
            pb.turn_played > 0
            and pb.buffered == 0
            and end is not None
            and self.now_rel >= end + quiet
        )

    async def _until(self, pred: Callable[[], bool], timeout: float) -> bool:
        try:
            await self.waits.until(pred, timeout)
        except TimeoutError:
            return False
        return True

    async def _speak(self, payloads: tuple[str, ...]) -> None:
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.speech_i, self.speech_done, self.speech = 0, fut, payloads
        try:
            await fut
        finally:
            self.speech = self.speech_done = None
        self.pb.new_turn()

    async def _wait_agent(self) -> None:
        if not await self._until(self._agent_done, self.behaviour.agent_timeout_s):
            self.rec.agent_timeouts += 1
        self.pb.new_turn()

    async def run(self) -> None:
        """Talk until cancelled (the call's hang-up or the stream's end)."""
        b, rng, pb = self.behaviour, self.rng, self.pb
        await self._wait_agent()  # the greeting
        while True:
            await asyncio.sleep(rng.uniform(*b.pause_ms) / 1000)
            await self._speak(rng.choice(self.utterances))
            if rng.random() < b.barge_in_probability:
                need = int(rng.uniform(*b.barge_after_ms)) * BYTES_PER_MS

                def barge_point(need: int = need) -> bool:
                    return pb.turn_played >= need or self._agent_done()

                reached = await self._until(barge_point, b.agent_timeout_s)
                if reached and pb.turn_played >= need and pb.buffered > 0:
                    self.rec.barge_ins.append(time.monotonic())
                    await self._speak(self.barge_utterance)
            await self._wait_agent()
