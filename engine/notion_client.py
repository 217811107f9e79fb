"""Creating and updating pages in an agency's Notion databases through the official REST API
(version 2022-06-28). I/O: HTTPS via httpx.

Notion allows an average of 3 requests per second per integration and answers 429 with
`Retry-After` beyond that. Each integration token gets its own pacing here (requests spaced
1/3 s apart, so a burst of events never trips the limit in the normal case); a 429 or 503 is
waited out as asked (bounded) and tried again, and anything else that fails raises
`NotionError` carrying `retryable` (engine.errors.status_retryable) for the outbox's backoff.
A write that needs database properties the agency did not make (a call template's fields) adds
them first through Update database, once per database and property while the client lives.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx

from engine.errors import RetryableError, status_retryable
from engine.notion_pages import PageWrite

NOTION_VERSION = "2022-06-28"
DEFAULT_BASE_URL = "https://api.notion.com"
RATE_PER_S = 3.0
MAX_WAIT_S = 30.0  # a longer Retry-After fails the attempt; the outbox's backoff takes over
MAX_TRIES = 4


class NotionError(RetryableError):
    def __init__(self, message: str, *, retryable: bool, status: int | None = None) -> None:
        super().__init__(message, retryable=retryable)
        self.status = status


class _Pacer:
    """Spaces one token's requests at least 1/rate apart (one per integration token)."""

    def __init__(self, rate_per_s: float) -> None:
        self._gap = 1.0 / rate_per_s
        self._next = 0.0
        self._lock = asyncio.Lock()

    async def wait(self) -> None:
        async with self._lock:
            now = time.monotonic()
            if self._next > now:
                await asyncio.sleep(self._next - now)
            self._next = max(now, self._next) + self._gap

    def hold(self, seconds: float) -> None:
        self._next = max(self._next, time.monotonic() + seconds)


class NotionClient:
    def __init__(
        self,
        base_url: str = DEFAULT_BASE_URL,
        *,
        timeout_s: float = 10.0,
        rate_per_s: float = RATE_PER_S,
    ) -> None:
        self._http = httpx.AsyncClient(base_url=base_url.rstrip("/"), timeout=timeout_s)
        self._rate = rate_per_s
        self._pacers: dict[str, _Pacer] = {}
        self._columns: set[tuple[str, str]] = set()  # (database, property) known to exist

    async def _call(self, token: str, method: str, path: str, body: dict[str, Any]) -> Any:
        pacer = self._pacers.setdefault(token, _Pacer(self._rate))
        headers = {"Authorization": f"Bearer {token}", "Notion-Version": NOTION_VERSION}
        for _ in range(MAX_TRIES):
            await pacer.wait()
            try:
                response = await self._http.request(method, path, json=body, headers=headers)
            except httpx.HTTPError as exc:
                error = f"Notion unreachable: {type(exc).__name__}"
                raise NotionError(error, retryable=True) from None
            if response.status_code < 300:
                return response.json()
            if response.status_code in (429, 503):
                try:
                    wait = float(response.headers.get("Retry-After", "1"))
                except ValueError:
                    wait = 1.0
                if wait > MAX_WAIT_S:
                    break
                pacer.hold(wait)
                continue
            code = _code(response)
            raise NotionError(
                f"Notion {response.status_code} {code}",
                retryable=status_retryable(response.status_code),
                status=response.status_code,
            )
        raise NotionError("Notion kept asking to wait", retryable=True, status=response.status_code)

    async def find(self, token: str, database_id: str, key: str) -> str | None:
        """The id of the page whose `Key` is ``key``, if there is one."""
        body = {"filter": {"property": "Key", "rich_text": {"equals": key}}, "page_size": 1}
        found = await self._call(token, "POST", f"/v1/databases/{database_id}/query", body)
        results = found.get("results") or []
        return str(results[0]["id"]) if results else None

    async def upsert(
        self, token: str, database_id: str, write: PageWrite, page_id: str | None
    ) -> str:
        """Update the page holding ``write.key`` (known, or found by its Key), else create it;
        the page id."""
        await self._add_columns(token, database_id, write.columns or {})
        if page_id is None:
            page_id = await self.find(token, database_id, write.key)
        if page_id is None:
            properties = {**(write.on_create or {}), **write.properties}
            body = {"parent": {"database_id": database_id}, "properties": properties}
            created = await self._call(token, "POST", "/v1/pages", body)
            return str(created["id"])
        if not write.create_only:
            await self._call(
                token, "PATCH", f"/v1/pages/{page_id}", {"properties": write.properties}
            )
        return page_id

    async def _add_columns(self, token: str, database_id: str, columns: dict[str, Any]) -> None:
        """Add the properties of ``columns`` the database may not have yet. One it already has
        is given the type sent (the same type as before for a property added here)."""
        missing = {k: v for k, v in columns.items() if (database_id, k) not in self._columns}
        if not missing:
            return
        body = {"properties": missing}
        await self._call(token, "PATCH", f"/v1/databases/{database_id}", body)
        self._columns.update((database_id, name) for name in missing)

    async def aclose(self) -> None:
        await self._http.aclose()


def _code(response: httpx.Response) -> str:
    try:
        return str(response.json().get("code", ""))
    except ValueError:
        return ""
