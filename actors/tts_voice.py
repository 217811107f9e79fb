"""A call's ElevenLabs voice: the model's text in, the caller's audio out. I/O, in the call actor.

One `TtsVoice` per call whose tenant speaks with an ElevenLabs voice, with one
`multi-stream-input` socket for the call (engine.tts_client), opened while Twilio connects.
Each model response is an utterance in a context of its own on that socket: its text deltas are
cut at word boundaries (engine.tts_codec.TextChunker) and written as they come; its audio goes
to the listener with the response and item it speaks for, so the call's state machine sends it
to Twilio untouched (mu-law 8 kHz) with a mark after each chunk, exactly as the model's own
audio. A barge-in closes only the utterance's context, so the next answer starts on the same
socket without a handshake.

The character timings of each utterance (engine.tts_alignment) tell what the caller heard when
they cut in (`heard`). A socket that drops mid-utterance is replaced and a new context on it is
given only the text that has no audio yet, so no word is said twice (at most MAX_RETRIES times
an utterance). A refused key or voice, a service that stays down, or a first audio slower than
FIRST_AUDIO_TIMEOUT_S ends the voice for the call: the listener is told which text is still
unspoken, so the model's own voice can say it (actors/call_session.py).

State it owns: the socket, the live utterances (by response id) and its tasks. When the
call ends, `close` stops everything; nothing outlives the call.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Protocol

import structlog

from engine import tts_codec as tts
from engine.config import ElevenLabsVoice, EngineConfig, TenantConfig
from engine.task_set import TaskSet
from engine.tts_alignment import Utterance, add_chunk, heard_text, unspoken
from engine.tts_client import TtsConnection, TtsContext, TtsError, open_connection

log = structlog.get_logger(__name__)

MAX_RETRIES = 2
# ElevenLabs' flash model answers in about 75 ms plus the network; the simulator's first chunk
# comes in 150 ms. A first chunk not there after 1.5 s is an outage the caller already hears
# as a pause: the model's own voice takes over.
FIRST_AUDIO_TIMEOUT_S = 1.5
HEARD_ITEMS = 8
GREETINGS_CACHED = 64  # per process: a greeting of a few seconds is some 30 kB


# Greetings said before, by voice, settings and text: a changed greeting or voice is a new key,
# so nothing stale is ever played; the oldest go first.
_greetings: OrderedDict[tuple[object, ...], tuple[tts.TtsAudio, ...]] = OrderedDict()


class TtsListener(Protocol):
    async def tts_audio(self, response_id: str, item_id: str, payload: str) -> None: ...
    async def tts_done(self, response_id: str) -> None: ...
    async def tts_failed(self, response_id: str, unspoken_text: str, reason: str) -> None: ...


@dataclass
class _Utterance:
    response_id: str
    item_id: str
    chunker: tts.TextChunker = field(default_factory=tts.TextChunker)
    text: str = ""  # everything handed to a socket (or waiting for one)
    sent: int = 0  # of `text`, what the current socket has
    socket: TtsContext | None = None
    ended: bool = False  # the model's text is complete
    stopped: bool = False
    failed: bool = False
    spoken: Utterance = field(default_factory=Utterance)
    first_text_at: float | None = None
    first_audio_ms: float | None = None
    cache_key: tuple[object, ...] | None = None  # a greeting: its audio is kept once complete
    chunks: list[tts.TtsAudio] = field(default_factory=list)


def forget_greetings() -> None:
    """Empty this process's greeting cache (tests)."""
    _greetings.clear()


def voice_for(
    config: EngineConfig,
    tenant: TenantConfig,
    listener: TtsListener,
    log_: structlog.typing.FilteringBoundLogger = log,
) -> TtsVoice | None:
    """The call's ElevenLabs voice, or None when the tenant speaks with the model's own voice
    (or has chosen an ElevenLabs voice but neither it nor the platform has a key: said in the
    log). The tenant's own key comes first."""
    if tenant.elevenlabs is None:
        return None
    key = tenant.elevenlabs_api_key or config.elevenlabs_api_key
    if not key:
        log_.warning("tts_voice_unavailable", reason="no ElevenLabs key")
        return None
    return TtsVoice(config.elevenlabs_base_url, key, tenant.elevenlabs, listener, log_)


class TtsVoice:
    def __init__(
        self,
        base_url: str,
        api_key: str,
        voice: ElevenLabsVoice,
        listener: TtsListener,
        log_: structlog.typing.FilteringBoundLogger = log,
    ) -> None:
        self._base_url, self._api_key, self._voice = base_url, api_key, voice
        self._listener = listener
        self._log = log_
        self._tasks = TaskSet("tts_voice", log_)
        self._connection: asyncio.Task[TtsConnection] | None = None
        self._contexts = 0  # context ids are unique on the call's sockets
        self.sockets = 0  # opened for the call
        self._live: dict[str, _Utterance] = {}
        self._heard: dict[str, Utterance] = {}  # item id -> its timings, newest last
        self.failed = False
        self.reconnects = 0
        self.first_audio_ms: list[float] = []

    # --- sockets ----------------------------------------------------------------------------

    def warm(self) -> None:
        """Open the call's socket ahead of the first utterance (no-op when open or opening)."""
        if self._connection is None and not self.failed:
            self._connection = self._tasks.spawn(self._open())

    async def _open(self) -> TtsConnection:
        v = self._voice
        settings = tts.VoiceSettings(v.stability, v.similarity_boost, v.speed)
        self.sockets += 1
        return await open_connection(
            self._base_url, self._api_key, v.voice_id, v.model_id, settings
        )

    async def _take_socket(self, response_id: str) -> TtsContext:
        """A new context on the call's socket; a new socket when it has gone (dropped, or
        closed by the service while idle) or has no room for another context."""
        connection: TtsConnection | None = None
        if self._connection is not None:
            with contextlib.suppress(TtsError):  # shared: a timed-out wait must not cancel it
                connection = await asyncio.shield(self._connection)
        if connection is None or not connection.room:
            if connection is not None:
                self._tasks.spawn(connection.close())  # its open contexts end on their own
            self._connection = None
            self.warm()
            assert self._connection is not None
            connection = await asyncio.shield(self._connection)
        self._contexts += 1
        return await connection.context(f"{response_id}-{self._contexts}")

    # --- utterances -------------------------------------------------------------------------

    async def text(self, response_id: str, item_id: str, delta: str) -> None:
        """A text delta of the model's response `response_id` (item `item_id`)."""
        utt = self._live.get(response_id)
        if utt is None:
            if self.failed:
                return
            utt = self._live[response_id] = _Utterance(response_id, item_id)
            self._tasks.spawn(self._run(utt))
        ready = utt.chunker.feed(delta)
        if ready is not None:
            await self._append(utt, ready)

    async def say(self, response_id: str, item_id: str, text: str) -> None:
        """Speak a whole text known in advance (the greeting): played from the cache when this
        voice said it before in this process, else synthesised and then cached."""
        key = (self._voice, text)
        cached = _greetings.get(key)
        if cached is not None:
            _greetings.move_to_end(key)
            self._tasks.spawn(self._play(response_id, item_id, cached))
            return
        utt = self._live[response_id] = _Utterance(response_id, item_id, cache_key=key)
        self._tasks.spawn(self._run(utt))
        await self._append(utt, text)
        await self.end(response_id)

    async def _play(self, response_id: str, item_id: str, chunks: tuple[tts.TtsAudio, ...]) -> None:
        spoken = Utterance()
        for chunk in chunks:
            spoken = add_chunk(spoken, chunk)
            self._remember(item_id, spoken)
            await self._listener.tts_audio(response_id, item_id, chunk.audio)
        await self._listener.tts_done(response_id)

    def speaking(self, response_id: str) -> bool:
        """An utterance speaks (or is still to speak) this response's text."""
        return response_id in self._live

    async def end(self, response_id: str) -> None:
        """The model's response is done: speak the rest of its text and finish."""
        utt = self._live.get(response_id)
        if utt is None:
            return
        rest = utt.chunker.rest()
        if rest is not None:
            await self._append(utt, rest)
        utt.ended = True
        if utt.failed:
            self._live.pop(response_id, None)
            await self._fail(utt, "")
        elif utt.socket is not None:
            with contextlib.suppress(TtsError):
                await utt.socket.finish()

    async def _append(self, utt: _Utterance, chunk: str) -> None:
        utt.text += chunk
        if utt.first_text_at is None:
            utt.first_text_at = time.monotonic()
        socket = utt.socket
        if socket is not None and not utt.stopped:
            utt.sent = len(utt.text)
            with contextlib.suppress(TtsError):  # the reader sees the drop and reconnects
                await socket.speak(chunk)

    async def stop(self, response_id: str) -> None:
        """Barge-in: stop generating this response's audio at once."""
        utt = self._live.get(response_id)
        if utt is None or utt.stopped:
            return
        utt.stopped = True
        socket, utt.socket = utt.socket, None
        if socket is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(socket.close(), 1.0)

    async def stop_item(self, item_id: str) -> None:
        """Stop whatever still speaks item `item_id` (a greeting has no model response to
        cancel)."""
        for utt in [u for u in self._live.values() if u.item_id == item_id]:
            await self.stop(utt.response_id)

    def heard(self, item_id: str, audio_end_ms: int) -> str | None:
        """The words of item `item_id` in its first `audio_end_ms` of audio; None when this voice
        did not speak it."""
        spoken = self._heard.get(item_id)
        return None if spoken is None else heard_text(spoken, audio_end_ms)

    async def _run(self, utt: _Utterance) -> None:
        retries = 0
        try:
            while not utt.stopped:
                try:
                    await self._stream(utt)
                    return
                except (TtsError, TimeoutError) as exc:
                    if utt.stopped:
                        return
                    retryable = isinstance(exc, TtsError) and exc.retryable
                    socket, utt.socket = utt.socket, None
                    if socket is not None:
                        with contextlib.suppress(Exception):
                            await asyncio.wait_for(socket.close(), 1.0)
                    if not retryable or retries >= MAX_RETRIES:
                        await self._fail(utt, str(exc) or "first audio too slow")
                        return
                    retries += 1
                    self.reconnects += 1
                    utt.cache_key = None  # pieced together over two sockets: not kept
                    self._log.warning("tts_socket_lost", error=str(exc), attempt=retries)
        finally:
            if not utt.failed:
                self._live.pop(utt.response_id, None)
                await self._listener.tts_done(utt.response_id)
            elif utt.ended:
                self._live.pop(utt.response_id, None)

    async def _stream(self, utt: _Utterance) -> None:
        socket = await asyncio.wait_for(self._take_socket(utt.response_id), FIRST_AUDIO_TIMEOUT_S)
        if utt.stopped:
            await socket.close()
            return
        # what has no audio yet, then anything written meanwhile, before the socket is shared
        covered = len(utt.text)
        rest = unspoken(utt.text, utt.spoken)
        if rest:
            await socket.speak(rest)
        while covered < len(utt.text):
            chunk, covered = utt.text[covered:], len(utt.text)
            await socket.speak(chunk)
        utt.socket, utt.sent = socket, covered
        if utt.ended:
            await socket.finish()
        events = socket.events()
        while True:
            waiting = utt.first_audio_ms is None and utt.first_text_at is not None
            try:
                event = await asyncio.wait_for(
                    anext(events), FIRST_AUDIO_TIMEOUT_S if waiting else None
                )
            except StopAsyncIteration:
                if utt.cache_key is not None and utt.chunks and not utt.stopped:
                    _greetings[utt.cache_key] = tuple(utt.chunks)
                    while len(_greetings) > GREETINGS_CACHED:
                        _greetings.popitem(last=False)
                return
            if utt.stopped:
                return
            if isinstance(event, tts.TtsAudio):
                if utt.first_audio_ms is None and utt.first_text_at is not None:
                    utt.first_audio_ms = (time.monotonic() - utt.first_text_at) * 1000
                    self.first_audio_ms.append(utt.first_audio_ms)
                utt.spoken = add_chunk(utt.spoken, event)
                if utt.cache_key is not None:
                    utt.chunks.append(event)
                self._remember(utt.item_id, utt.spoken)
                await self._listener.tts_audio(utt.response_id, utt.item_id, event.audio)

    def _remember(self, item_id: str, spoken: Utterance) -> None:
        self._heard.pop(item_id, None)
        self._heard[item_id] = spoken
        while len(self._heard) > HEARD_ITEMS:
            del self._heard[next(iter(self._heard))]

    async def _fail(self, utt: _Utterance, reason: str) -> None:
        """This voice is done for the call; the listener gets the text still unspoken once the
        model's text is complete."""
        if not self.failed:
            self.failed = True
            self._log.error("tts_voice_failed", reason=reason)
        utt.failed = True
        if utt.ended:
            await self._listener.tts_failed(
                utt.response_id, unspoken(utt.text, utt.spoken), reason or "voice failed"
            )

    async def close(self) -> None:
        for utt in list(self._live.values()):
            await self.stop(utt.response_id)
        opening, self._connection = self._connection, None
        if opening is not None and opening.done() and not opening.cancelled():
            with contextlib.suppress(Exception):
                await asyncio.wait_for(opening.result().close(), 1.0)
        await self._tasks.close()
