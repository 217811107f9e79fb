"""One text-to-speech socket of the ElevenLabs simulator: its protocol, one message at a time.

I/O: reads the socket's messages and answers errors on it (an `{"message", "error", "code"}`
message and a 1008 close); its generations (engine.sim.elevenlabs_generation) send the audio.
A `stream-input` socket carries one generation; a `multi-stream-input` socket up to
MAX_CONTEXTS contexts at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

from picows.websockets import ServerConnection
from picows.websockets.exceptions import ConnectionClosed

from engine.sim.elevenlabs_generation import Generation, SimStream, VoiceServer

POLICY = 1008
MAX_CONTEXTS = 5  # open contexts per multi-stream-input socket


class SimSocket:
    """One socket: the key check, the inactivity timeout, and its generations - the one of a
    `stream-input` socket, or the contexts of a `multi-stream-input` socket."""

    def __init__(
        self, sim: VoiceServer, ws: ServerConnection, template: SimStream, multi: bool
    ) -> None:
        self._sim, self._ws, self._template, self._multi = sim, ws, template, multi
        self._drop_after = sim.take_drop()
        self._chunks = [0]  # audio messages sent on the socket, over all its generations
        self._live: dict[str, Generation] = {}
        self._generations: list[Generation] = []
        self._authorised = False

    async def error(self, message: str, error: str) -> None:
        with contextlib.suppress(ConnectionClosed):
            await self._ws.send(json.dumps({"message": message, "error": error, "code": POLICY}))
            await self._ws.close(POLICY, error)
        for gen in self._generations:
            gen.stream.closed_code = POLICY

    async def run(self, key_in_header: bool) -> None:
        self._authorised = key_in_header
        try:
            await self._read()
        finally:
            for gen in self._generations:
                if not gen.closing:
                    gen.speaker.cancel()
                with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
                    await gen.speaker

    def _open(self, context_id: str | None, msg: dict[str, Any]) -> Generation:
        t = self._template
        stream = SimStream(
            t.voice_id, t.query, key=t.key, context_id=context_id, socket=t.socket, received=[msg]
        )
        self._sim.streams.append(stream)
        gen = Generation(self._sim, self._ws, stream, self._chunks, self._drop_after)
        gen.configure(msg)
        self._generations.append(gen)
        return gen

    async def _read(self) -> None:
        timeout = float(self._template.query.get("inactivity_timeout", "20"))
        while True:
            try:
                raw = await asyncio.wait_for(self._ws.recv(), timeout)
            except TimeoutError:
                await self.error(
                    f"Have not received new text for {timeout:g} seconds. Closing connection.",
                    "input_timeout_exceeded",
                )
                return
            except ConnectionClosed:
                return
            try:
                msg = json.loads(raw)
                if not isinstance(msg, dict):
                    raise ValueError
            except ValueError:
                await self.error("Invalid message: not a JSON object.", "invalid_message")
                return
            if not self._authorised:
                key = msg.get("xi-api-key")
                if not self._sim.key_ok(key if isinstance(key, str) else None):
                    await self.error("Invalid API key", "invalid_api_key")
                    return
                self._authorised = True
            done = await (self._multi_message(msg) if self._multi else self._single_message(msg))
            if done:
                return

    async def _single_message(self, msg: dict[str, Any]) -> bool:
        text = msg.get("text")
        if not isinstance(text, str):
            await self.error("Invalid message: a 'text' field is required.", "invalid_message")
            return True
        if not self._generations:
            if text != " ":
                await self.error(
                    "The first message must be a single space with the settings.",
                    "invalid_initial_message",
                )
                return True
            self._open(None, msg)
            return False
        gen = self._generations[0]
        gen.stream.received.append(msg)
        if text == "":  # end of input
            await gen.end()
            await self._ws.wait_closed()
            return True
        await gen.feed(
            text, flush=msg.get("flush") is True, trigger=bool(msg.get("try_trigger_generation"))
        )
        return False

    async def _multi_message(self, msg: dict[str, Any]) -> bool:
        if msg.get("close_socket") is True:
            for open_gen in list(self._live.values()):
                await open_gen.end()
            for each in self._generations:
                with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
                    await each.speaker
            with contextlib.suppress(ConnectionClosed):
                await self._ws.close(1000)
            return True
        raw_id = msg.get("context_id", msg.get("contextId", ""))
        text = msg.get("text")
        if not isinstance(raw_id, str) or not (text is None or isinstance(text, str)):
            await self.error("Invalid message: bad 'text' or 'context_id'.", "invalid_message")
            return True
        for cid in [c for c, g in self._live.items() if g.stream.final]:
            del self._live[cid]
        gen = self._live.get(raw_id)
        if msg.get("close_context") is True:
            if gen is not None:
                gen.stream.received.append(msg)
                del self._live[raw_id]  # the id may be used again, for a new context
                await (gen.end() if gen.flushed else gen.stop())
            return False
        if gen is None:
            # a closed context counts until its final message
            if sum(not g.stream.final for g in self._generations) >= MAX_CONTEXTS:
                await self.error(
                    f"Maximum simultaneous contexts per WebSocket connection exceeded "
                    f"({MAX_CONTEXTS}). Please close an existing context before opening a new one.",
                    "max_active_conversations",
                )
                return True
            gen = self._live[raw_id] = self._open(raw_id, msg)
        else:
            gen.stream.received.append(msg)
        if text:  # "" keeps a context alive; None is a control message
            await gen.feed(text, flush=msg.get("flush") is True)
        elif msg.get("flush") is True:
            await gen.feed("", flush=True)
        return False
