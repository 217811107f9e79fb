"""The ElevenLabs account's voices, for the admin API: listed through the official SDK
(`AsyncElevenLabs(...).voices.get_all()`, pointed at ELEVENLABS_BASE_URL) and cached per replica
for CACHE_S, so the console's voice picker and every voice change do not each ask the service.
I/O: HTTP to ElevenLabs, with a timeout.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass

from elevenlabs.client import AsyncElevenLabs
from elevenlabs.core.api_error import ApiError

from engine.errors import RetryableError, status_retryable

CACHE_S = 300.0
TIMEOUT_S = 10.0


@dataclass(frozen=True, slots=True)
class CatalogVoice:
    voice_id: str
    name: str
    category: str
    labels: tuple[tuple[str, str], ...]


class CatalogError(RetryableError):
    """The voices could not be listed (`status`: the service's HTTP status, if it answered)."""

    def __init__(self, message: str, *, retryable: bool, status: int | None = None) -> None:
        super().__init__(message, retryable=retryable)
        self.status = status


_cache: dict[tuple[str, str], tuple[float, tuple[CatalogVoice, ...]]] = {}


def forget() -> None:
    """Drop the cached lists (tests; a key change)."""
    _cache.clear()


async def voices(base_url: str, api_key: str) -> tuple[CatalogVoice, ...]:
    """The account's voices, from the cache when it is fresh."""
    key = (base_url, hashlib.sha256(api_key.encode()).hexdigest())
    cached = _cache.get(key)
    now = time.monotonic()
    if cached is not None and cached[0] > now:
        return cached[1]
    client = AsyncElevenLabs(api_key=api_key, base_url=base_url, timeout=TIMEOUT_S)
    try:
        listed = await client.voices.get_all()
    except ApiError as exc:
        status = exc.status_code or 0
        raise CatalogError(
            f"ElevenLabs refused to list voices (HTTP {status})",
            retryable=status_retryable(status),
            status=status,
        ) from None
    except Exception as exc:  # network errors and timeouts from the SDK's HTTP client
        raise CatalogError(f"ElevenLabs could not be reached: {exc!r}", retryable=True) from None
    found = tuple(
        CatalogVoice(
            v.voice_id,
            v.name or v.voice_id,
            str(v.category or ""),
            tuple(sorted((v.labels or {}).items())),
        )
        for v in listed.voices
    )
    _cache[key] = (now + CACHE_S, found)
    return found
