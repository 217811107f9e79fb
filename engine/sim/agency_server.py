"""An agency's own server answering its custom tools, for tests and the demo.

I/O: an aiohttp.web server on 127.0.0.1 (port 0 by default). `POST /tools/<name>` checks the
`NeuroSphere-Signature` with the tool's secret (engine.signing; 401 when it does not match)
and answers as scripted for that tool: a JSON object (by default it echoes the arguments), a
status, a raw body, a delay before answering. Every request is recorded with its arguments and
how long the handler took (the server's own time, for measuring the engine's overhead).
Connection refused is modelled by a URL whose port nobody listens on (`refused_url`).
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from aiohttp import web

from engine.signing import SIGNATURE_HEADER, BadSignature, verify
from engine.sim.http_server import LoopbackServer


@dataclass
class Behaviour:
    answer: dict[str, Any] | None = None  # None: {"echo": <the arguments>}
    status: int = 200
    raw: bytes | None = None  # sent as is instead of `answer` (not JSON, too big...)
    delay_s: float = 0.0


@dataclass(frozen=True, slots=True)
class ToolRequest:
    tool: str
    body: dict[str, Any]
    headers: dict[str, str]
    handler_ms: float  # the server's own time for this request, delay included


@dataclass
class AgencyServer:
    secret: str = "agency-tool-secret-0001"  # noqa: S105 - the simulator's own test secret
    behaviours: dict[str, Behaviour] = field(default_factory=dict)
    requests: list[ToolRequest] = field(default_factory=list)
    bad_signatures: int = 0
    base_url: str = ""
    _server: LoopbackServer | None = None

    def url(self, tool: str) -> str:
        return f"{self.base_url}/tools/{tool}"

    async def _handle(self, request: web.Request) -> web.Response:
        started = time.perf_counter()
        tool = request.match_info["tool"]
        raw = await request.read()
        try:
            verify(self.secret, raw, request.headers.get(SIGNATURE_HEADER, ""), time.time())
        except BadSignature:
            self.bad_signatures += 1
            return web.Response(status=401)
        body = json.loads(raw)
        act = self.behaviours.get(tool, Behaviour())
        if act.delay_s:
            await asyncio.sleep(act.delay_s)
        if act.raw is not None:
            response = web.Response(body=act.raw, status=act.status, content_type="text/plain")
        else:
            answer = act.answer if act.answer is not None else {"echo": body["arguments"]}
            response = web.json_response(answer, status=act.status)
        handler_ms = (time.perf_counter() - started) * 1000
        self.requests.append(ToolRequest(tool, body, dict(request.headers), handler_ms))
        return response

    async def __aenter__(self) -> AgencyServer:
        app = web.Application()
        app.router.add_post("/tools/{tool}", self._handle)
        self._server = LoopbackServer(app)
        self.base_url = await self._server.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._server is not None:
            await self._server.stop()


def refused_url() -> str:
    """A 127.0.0.1 URL nobody listens on: a port taken and let go again."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/tools/gone"
