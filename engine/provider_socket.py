"""Opening a provider's WebSocket (I/O): the realtime model's and ElevenLabs', with picows'
`websockets`-compatible client (the same API as `websockets`, its frame handling compiled).

One rule for what a failed opening means: a refused handshake with a 4xx other than 408/429 (a
bad key, a bad model) is final (engine.errors); timeouts, network errors, 5xx, 408 and 429 are
worth trying again. Each provider raises its own subclass of `ProviderSocketError`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

from picows.websockets import ClientConnection, InvalidHandshake, InvalidStatus, connect

from engine.errors import RetryableError, status_retryable


class ProviderSocketError(RetryableError):
    """A provider socket that failed; `status` is the HTTP status of a refused handshake."""

    def __init__(self, message: str, *, retryable: bool, status: int | None = None) -> None:
        super().__init__(message, retryable=retryable)
        self.status = status


E = TypeVar("E", bound=ProviderSocketError)


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
