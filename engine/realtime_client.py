"""Opening the realtime model socket (I/O), with picows' callback API: frames go straight to a
listener (actors/model_socket.py), with no per-message future, queue or task.

Derives the URL from `OPENAI_BASE_URL` exactly as the official SDK does and classifies
failures (engine.provider_socket): a 4xx other than 408/429 at the handshake (a bad key, a bad
model) is permanent; everything else (timeouts, network errors, 5xx, 408, 429) is retryable.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from picows import WSListener

from engine.provider_socket import ProviderSocketError, open_provider_link
from engine.realtime_codec import realtime_url

MAX_MESSAGE_BYTES = 16 * 1024 * 1024

L = TypeVar("L", bound=WSListener)


class RealtimeError(ProviderSocketError):
    """The realtime model socket failed to open."""


async def open_realtime(
    base_url: str, model: str, api_key: str, listener: Callable[[], L], *, timeout: float = 10.0
) -> L:
    """The open socket's listener, made by `listener()`; RealtimeError when it does not open."""
    return await open_provider_link(
        realtime_url(base_url, model),
        {"Authorization": f"Bearer {api_key}"},
        listener,
        provider="realtime",
        error=RealtimeError,
        timeout=timeout,
        max_size=MAX_MESSAGE_BYTES,
    )
