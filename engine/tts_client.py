"""One ElevenLabs `multi-stream-input` socket (I/O): opened with the `xi-api-key` header, then a
context per generation on it - text written, audio read - so a new answer starts without a
handshake and a barge-in closes only its context. picows' `websockets`-compatible client, as the
realtime link uses; the message shapes are engine.tts_codec.

A reader task (owned by the connection, ended by `close`) routes each server message to its
context by `contextId`. Failures carry `retryable`: a refused handshake with a 4xx other than
408/429, or a 1008 close (the service's answer to a refused key, an unknown voice or too many
contexts), is final; timeouts, network errors, 5xx and a socket cut mid-stream are worth another
socket. A socket that ends fails every context still open on it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from picows.websockets import ClientConnection, ConnectionClosed, State

from engine import tts_codec as tts
from engine.provider_socket import ProviderSocketError, open_provider_socket

MAX_MESSAGE_BYTES = 4 * 1024 * 1024
FINAL_CLOSE_CODES = frozenset({1008})  # policy: bad key, unknown voice, too many contexts
MAX_CONTEXTS = 5  # the service's limit of open contexts per socket


class TtsError(ProviderSocketError):
    """An ElevenLabs socket or one of its contexts failed."""


class TtsContext:
    """One generation on a connection: `speak` text as it comes, `finish` it, read `events()`;
    `close` stops it (barge-in) and its later audio is dropped."""

    def __init__(self, connection: TtsConnection, context_id: str) -> None:
        self._connection, self.context_id = connection, context_id
        self._events: asyncio.Queue[tts.TtsEvent | TtsError] = asyncio.Queue()
        self.closed = False
        self._finished = False  # closed after a flush: the service speaks it to the end

    @property
    def open(self) -> bool:
        return self._connection.open and not self.closed

    async def speak(self, text: str) -> None:
        await self._connection.send(tts.text_message(self.context_id, text))

    async def finish(self) -> None:
        """No more text: the service speaks what is buffered, then sends `isFinal`."""
        await self._connection.send(tts.flush_message(self.context_id))
        await self._connection.send(tts.close_context_message(self.context_id))
        self._finished = True

    async def close(self) -> None:
        """Stop (barge-in): `events()` ends and whatever still comes for the context is dropped;
        the socket stays open for the next context. A context still taking text is closed
        without a flush, so the service stops generating it; one already finished is closed
        on the service's side, which speaks it to the end (its audio is dropped here)."""
        if self.closed:
            return
        self.closed = True
        self._events.put_nowait(tts.TtsFinal(self.context_id))
        if not self._finished:
            with contextlib.suppress(TtsError):
                await self._connection.send(tts.close_context_message(self.context_id))

    def deliver(self, event: tts.TtsEvent | TtsError) -> None:
        if not self.closed:
            self._events.put_nowait(event)

    async def events(self) -> AsyncIterator[tts.TtsEvent]:
        """The context's events until `TtsFinal`; raises TtsError when it ends otherwise."""
        while True:
            event = await self._events.get()
            if isinstance(event, TtsError):
                raise event
            yield event
            if isinstance(event, tts.TtsFinal):
                return


class TtsConnection:
    """A call's socket to the service, carrying its contexts (at most MAX_CONTEXTS open)."""

    def __init__(self, ws: ClientConnection, settings: tts.VoiceSettings) -> None:
        self._ws, self._settings = ws, settings
        self._contexts: dict[str, TtsContext] = {}
        self._reader = asyncio.get_running_loop().create_task(self._read())

    @property
    def open(self) -> bool:
        """Still usable (the service closes a socket idle past its inactivity timeout)."""
        return self._ws.state is State.OPEN and not self._reader.done()

    @property
    def room(self) -> bool:
        """Another context may be opened (closed ones count until their `isFinal`)."""
        return self.open and len(self._contexts) < MAX_CONTEXTS

    async def context(self, context_id: str) -> TtsContext:
        """A new context, its settings sent; the service creates it with the first message."""
        if context_id in self._contexts:
            raise ValueError(f"context {context_id!r} is open on this socket")
        ctx = self._contexts[context_id] = TtsContext(self, context_id)
        await self.send(tts.init_message(context_id, self._settings))
        return ctx

    async def send(self, text: str) -> None:
        try:
            await self._ws.send(text)
        except ConnectionClosed as exc:
            raise _closed(exc) from None

    async def _read(self) -> None:
        failure: TtsError | None = None
        try:
            async for frame in self._ws:
                try:
                    event = tts.decode(frame)
                except ValueError:
                    continue
                if isinstance(event, tts.TtsFailure):
                    failure = TtsError(
                        f"ElevenLabs: {event.error or event.message}",
                        retryable=event.code not in FINAL_CLOSE_CODES,
                    )
                    ctx = self._contexts.pop(event.context_id, None)
                    if ctx is not None:
                        ctx.deliver(failure)
                    continue
                if event is None:
                    continue
                ctx = self._contexts.get(event.context_id)
                if ctx is None:
                    continue
                if isinstance(event, tts.TtsFinal):
                    del self._contexts[event.context_id]
                ctx.deliver(event)
        except ConnectionClosed as exc:
            failure = failure or _closed(exc)
        code = self._ws.close_code
        failure = failure or TtsError(
            f"ElevenLabs closed the socket ({code})", retryable=code not in FINAL_CLOSE_CODES
        )
        contexts, self._contexts = self._contexts, {}
        for ctx in contexts.values():
            ctx.deliver(failure)

    async def close(self) -> None:
        """End every context and the socket (the call is over)."""
        with contextlib.suppress(TtsError):
            await self.send(tts.close_socket_message())
        await self._ws.close(1000, "done")
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader


def _closed(exc: ConnectionClosed) -> TtsError:
    code = exc.rcvd.code if exc.rcvd else None
    return TtsError(
        f"ElevenLabs socket closed ({code if code is not None else 'no close frame'})",
        retryable=code not in FINAL_CLOSE_CODES,
    )


async def open_connection(
    base_url: str,
    api_key: str,
    voice_id: str,
    model_id: str,
    settings: tts.VoiceSettings,
    *,
    timeout: float = 5.0,
) -> TtsConnection:
    """A socket ready for contexts: the handshake with the key."""
    url = tts.multi_stream_url(base_url, voice_id, model_id)
    ws = await open_provider_socket(
        url,
        {"xi-api-key": api_key},
        provider="ElevenLabs",
        error=TtsError,
        timeout=timeout,
        max_size=MAX_MESSAGE_BYTES,
    )
    return TtsConnection(ws, settings)
