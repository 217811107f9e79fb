"""Posting one signed event to an agency's webhook endpoint. I/O: HTTP (httpx), nothing else.

The body goes out byte for byte as stored, with the event id as `Idempotency-Key` (the same on
every attempt and replay, so a receiver can drop repeats) and a signature over timestamp and
body (engine.signing). The answer is classified, never raised: 2xx is delivered; a timeout, a
broken connection, 408, 429 and 5xx are worth retrying; any other 4xx is not (retrying cannot
fix it; engine.errors.status_retryable). `Retry-After` (seconds) of a 429/503 is passed on for
the backoff.
"""

from __future__ import annotations

import time

import httpx

from engine.signing import SIGNATURE_HEADER, sign

USER_AGENT = "NeuroSphere-Webhooks/1"
MAX_RETRY_AFTER_S = 3600.0


def retry_after_s(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None  # an HTTP date: the backoff decides
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_S)


class WebhookSender:
    """One shared HTTP client for every endpoint; ``timeout_s`` bounds each attempt whole."""

    def __init__(self, timeout_s: float = 10.0) -> None:
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout_s),
            follow_redirects=False,
            headers={"User-Agent": USER_AGENT},
        )

    async def post(
        self, url: str, secret: str, event_id: str, event_type: str, body: bytes
    ) -> tuple[int | None, str | None, float | None]:
        """(status code, error, Retry-After seconds); status None when no answer came."""
        headers = {
            "Content-Type": "application/json",
            "Idempotency-Key": event_id,
            "NeuroSphere-Event-Id": event_id,
            "NeuroSphere-Event-Type": event_type,
            SIGNATURE_HEADER: sign(secret, body, time.time()),
        }
        try:
            response = await self._client.post(url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            return None, f"{type(exc).__name__}: {exc}"[:300], None
        if 200 <= response.status_code < 300:
            return response.status_code, None, None
        return (
            response.status_code,
            f"HTTP {response.status_code}",
            retry_after_s(response.headers.get("Retry-After")),
        )

    async def aclose(self) -> None:
        await self._client.aclose()
