"""Opening a provider's WebSocket (I/O): ElevenLabs' with picows' `websockets`-compatible client
(the same API as `websockets`, its frame handling compiled), the realtime model's with picows'
callback API (`open_provider_link`: frames go to a listener, no per-message future or task).

One rule for what a failed opening means: a refused handshake with a 4xx other than 408/429 (a
bad key, a bad model) is final (engine.errors); timeouts, network errors, 5xx, 408 and 429 are
worth trying again. Each provider raises its own subclass of `ProviderSocketError`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import TypeVar

from picows import WSHandshakeError, WSListener, ws_connect
from picows.websockets import ClientConnection, InvalidHandshake, InvalidStatus, connect

from engine.errors import RetryableError, status_retryable


class ProviderSocketError(RetryableError):
    """A provider socket that failed; `status` is the HTTP status of a refused handshake."""

    def __init__(self, message: str, *, retryable: bool, status: int | None = None) -> None:
        super().__init__(message, retryable=retryable)
        self.status = status


E = TypeVar("E", bound=ProviderSocketError)
L = TypeVar("L", bound=WSListener)


async def open_provider_socket(
    url: str,
    headers: Mapping[str, str],
    *,
    provider: str,
    error: type[E],
    timeout: float,
    max_size: int,
) -> ClientConnection:
    """The open socket, or `error` naming `provider`, with `retryable` and `status` set."""
    try:
        return await connect(
            url,
            additional_headers=dict(headers),
            open_timeout=timeout,
            max_size=max_size,
            compression=None,
            user_agent_header=None,
        )
    except InvalidStatus as exc:
        status = exc.response.status_code
        raise error(
            f"{provider} handshake refused with HTTP {status}",
            retryable=status_retryable(status),
            status=status,
        ) from None
    except TimeoutError as exc:
        raise error(f"{provider} connect timed out: {exc}", retryable=True) from None
    except (OSError, InvalidHandshake) as exc:
        raise error(f"{provider} connect failed: {exc}", retryable=True) from None


async def open_provider_link(
    url: str,
    headers: Mapping[str, str],
    listener: Callable[[], L],
    *,
    provider: str,
    error: type[E],
    timeout: float,
    max_size: int,
) -> L:
    """The listener `listener()` made for the open socket (connected to it), or `error` naming
    `provider`, with `retryable` and `status` set as for `open_provider_socket`."""
    made: list[L] = []

    def make() -> L:
        made.append(listener())
        return made[-1]

    try:
        await asyncio.wait_for(
            ws_connect(
                make,
                url,
                websocket_handshake_timeout=timeout,  # picows cuts the socket itself
                max_frame_size=max_size,
                extra_headers=dict(headers),
                use_aiofastnet=False,  # the loop's own transport: see actors/media_server.py
            ),
            timeout + 1.0,  # and the TCP connect before it
        )
    except WSHandshakeError as exc:
        status = exc.response.status if exc.response is not None else None
        if status is None or status < 400:
            raise error(f"{provider} connect failed: {exc}", retryable=True) from None
        raise error(
            f"{provider} handshake refused with HTTP {int(status)}",
            retryable=status_retryable(status),
            status=int(status),
        ) from None
    except TimeoutError as exc:
        raise error(f"{provider} connect timed out: {exc}", retryable=True) from None
    except OSError as exc:
        raise error(f"{provider} connect failed: {exc}", retryable=True) from None
    if not made:  # the socket closed during the handshake
        raise error(f"{provider} connect failed: closed during the handshake", retryable=True)
    return made[0]
