"""One ElevenLabs `stream-input` socket (I/O): opened with the `xi-api-key` header and the
initial message, written text, read audio. picows' `websockets`-compatible client, as the
realtime link uses; the message shapes are engine.tts_codec.

Failures carry `retryable`: a refused handshake with a 4xx other than 408/429, or a 1008 close
(the service's answer to a refused key or an unknown voice), is final; timeouts, network
errors, 5xx and a socket cut mid-stream are worth another socket.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from picows.websockets import (
    ClientConnection,
    ConnectionClosed,
    InvalidHandshake,
    InvalidStatus,
    State,
    connect,
)

from engine import tts_codec as tts
from engine.errors import RetryableError, status_retryable

MAX_MESSAGE_BYTES = 4 * 1024 * 1024
FINAL_CLOSE_CODES = frozenset({1008})  # policy: bad key, unknown voice, bad message


class TtsError(RetryableError):
    def __init__(self, message: str, *, retryable: bool, status: int | None = None) -> None:
        super().__init__(message, retryable=retryable)
        self.status = status


class TtsSocket:
    """A stream for one utterance: `speak` text as it comes, `finish` it, read `events()`."""

    def __init__(self, ws: ClientConnection) -> None:
        self._ws = ws

    @property
    def open(self) -> bool:
        """Still usable (a spare may have been closed by the service while it waited)."""
        return self._ws.state is State.OPEN

    async def speak(self, text: str) -> None:
        await self._send(tts.text_message(text))

    async def flush(self) -> None:
        await self._send(tts.flush_message())

    async def finish(self) -> None:
        """No more text: the service speaks the rest, sends `isFinal` and closes."""
        await self._send(tts.close_message())

    async def _send(self, text: str) -> None:
        try:
            await self._ws.send(text)
        except ConnectionClosed as exc:
            raise _closed(exc) from None

    async def events(self) -> AsyncIterator[tts.TtsEvent]:
        """The stream's events until `TtsFinal`; raises TtsError when it ends otherwise."""
        try:
            async for frame in self._ws:
                try:
                    event = tts.decode(frame)
                except ValueError:
                    continue
                if isinstance(event, tts.TtsFailure):
                    raise TtsError(
                        f"ElevenLabs: {event.error or event.message}",
                        retryable=event.code not in FINAL_CLOSE_CODES,
                    )
                if event is not None:
                    yield event
                if isinstance(event, tts.TtsFinal):
                    return
        except ConnectionClosed as exc:
            raise _closed(exc) from None
        code = self._ws.close_code
        raise TtsError(
            f"ElevenLabs closed the stream ({code})", retryable=code not in FINAL_CLOSE_CODES
        )

    async def close(self) -> None:
        """Stop at once (barge-in): whatever is still being generated is dropped."""
        await self._ws.close(1000, "stopped")


def _closed(exc: ConnectionClosed) -> TtsError:
    code = exc.rcvd.code if exc.rcvd else None
    return TtsError(
        f"ElevenLabs socket closed ({code if code is not None else 'no close frame'})",
        retryable=code not in FINAL_CLOSE_CODES,
    )


async def open_stream(
    base_url: str,
    api_key: str,
    voice_id: str,
    model_id: str,
    settings: tts.VoiceSettings,
    *,
    timeout: float = 5.0,
) -> TtsSocket:
    """A socket ready for text: handshake with the key, then the initial message."""
    url = tts.stream_input_url(base_url, voice_id, model_id)
    try:
        ws = await connect(
            url,
            additional_headers={"xi-api-key": api_key},
            open_timeout=timeout,
            max_size=MAX_MESSAGE_BYTES,
            compression=None,
            user_agent_header=None,
        )
    except InvalidStatus as exc:
        status = exc.response.status_code
        raise TtsError(
            f"ElevenLabs handshake refused with HTTP {status}",
            retryable=status_retryable(status),
            status=status,
        ) from None
    except TimeoutError as exc:
        raise TtsError(f"ElevenLabs connect timed out: {exc}", retryable=True) from None
    except (OSError, InvalidHandshake) as exc:
        raise TtsError(f"ElevenLabs connect failed: {exc}", retryable=True) from None
    socket = TtsSocket(ws)
    await socket._send(tts.init_message(settings))
    return socket
