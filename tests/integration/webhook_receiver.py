"""An agency's webhook receiver as a well-behaved one is written: checks the signature, applies
each event once by its idempotency key, and can be taken down (503) for a while. I/O: an
aiohttp server on 127.0.0.1, port 0."""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from aiohttp import web

from engine.signing import SIGNATURE_HEADER, BadSignature, verify
from engine.sim.http_server import LoopbackServer


@dataclass
class WebhookReceiver:
    secret: str = ""
    answer: int = 200  # what it answers while up
    down_until: float = 0.0  # time.monotonic() before which it answers 503
    applied: dict[str, dict[str, Any]] = field(default_factory=dict)  # event id -> event
    applied_at: dict[str, float] = field(default_factory=dict)  # event id -> time.time()
    seen: Counter[str] = field(default_factory=Counter)  # event id -> requests
    bad_signatures: int = 0
    _server: LoopbackServer | None = None
    url: str = ""

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        event_id = request.headers.get("Idempotency-Key", "")
        self.seen[event_id] += 1
        if time.monotonic() < self.down_until:
            return web.Response(status=503, headers={"Retry-After": "0"})
        try:
            verify(self.secret, body, request.headers.get(SIGNATURE_HEADER, ""), time.time())
        except BadSignature:
            self.bad_signatures += 1
            return web.Response(status=401)
        if self.answer != 200:
            return web.Response(status=self.answer)
        event = json.loads(body)
        if event["id"] != event_id:
            return web.Response(status=400)
        if event_id not in self.applied:  # the effect happens once per event
            self.applied[event_id] = event
            self.applied_at[event_id] = time.time()
        return web.Response(status=200)

    async def __aenter__(self) -> WebhookReceiver:
        app = web.Application()
        app.router.add_post("/hooks", self._handle)
        self._server = LoopbackServer(app)
        self.url = await self._server.start() + "/hooks"
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._server is not None:
            await self._server.stop()

    def of_type(self, event_type: str) -> list[dict[str, Any]]:
        return [e for e in self.applied.values() if e["type"] == event_type]
