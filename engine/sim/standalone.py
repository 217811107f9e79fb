"""Running a simulator in the foreground until cancelled (the `neurosphere sim ...` commands).

I/O: starts the given simulator's server, logs where it listens, and stops it on cancel.
"""

from __future__ import annotations

import asyncio
from typing import Any, Protocol


class LocalServer(Protocol):
    """A simulator with an async start/stop and an OpenAI-style base URL."""

    @property
    def base_url(self) -> str: ...

    async def start(self, host: str = ..., port: int = ...) -> None: ...

    async def stop(self) -> None: ...


async def serve_until_cancelled(
    sim: LocalServer, host: str, port: int, *, log: Any, event: str
) -> None:
    """Start `sim` on `host:port`, log `event` with its base URL, and serve until cancelled."""
    await sim.start(host, port)
    log.info(event, base_url=sim.base_url, hint="export OPENAI_BASE_URL=" + sim.base_url)
    try:
        await asyncio.Event().wait()
    finally:
        await sim.stop()
