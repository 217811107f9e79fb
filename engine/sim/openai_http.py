"""A local stand-in for the OpenAI HTTP API: chat completions with JSON output, embeddings.

I/O lives here: an `aiohttp.web` server on 127.0.0.1 (port 0 by default). Point the official
`openai` SDK at `base_url` (`http://127.0.0.1:PORT/v1`) and it works unchanged:
- `POST /v1/chat/completions`: answers with JSON that validates against the request's
  `response_format.json_schema.schema` (strict schemas are checked the way OpenAI checks them),
  produced deterministically from the conversation by `engine.sim.openai_rules`; without a
  schema, `json_object` gets the same analysis as an object and plain requests a summary.
- `POST /v1/embeddings`: deterministic hashed bag-of-words vectors, `dimensions` honoured,
  `encoding_format` float or base64 (the SDK's default).
- Bearer key check (401), OpenAI-shaped errors for bad requests (400), unknown paths (404).
Tests can queue failures (`fail_next`) and add latency; `requests` records what was asked.
What a request body may hold is `engine.sim.openai_requests`.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import secrets
import socket
import struct
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import structlog
from aiohttp import web

from engine.sim.openai_requests import BadRequest, chat_answer, chat_request, embedding_request
from engine.sim.openai_rules import hash_embedding, token_count
from engine.sim.sim_thread import SimulatorThread
from engine.sim.standalone import serve_until_cancelled

__all__ = ["OpenAIHttpSimulator", "OpenAIHttpSimulatorThread", "main"]

log = structlog.get_logger(__name__)

MAX_BODY_BYTES = 4 * 1024 * 1024
_FAILURES = {
    400: ("Bad request.", "invalid_request_error", None),
    401: ("Incorrect API key provided.", "invalid_request_error", "invalid_api_key"),
    408: ("Request timed out.", "timeout", None),
    429: ("Rate limit reached for requests.", "requests", "rate_limit_exceeded"),
    500: ("The server had an error while processing your request.", "server_error", None),
    503: ("The engine is currently overloaded, please try again later.", "server_error", None),
}


def _error(
    status: int, message: str, error_type: str, code: str | None = None, param: str | None = None
) -> web.Response:
    body = {"error": {"message": message, "type": error_type, "param": param, "code": code}}
    return web.json_response(body, status=status)


@dataclass(slots=True)
class SimRequest:
    """One request as received (after the key check)."""

    path: str
    body: dict[str, Any] = field(repr=False)


class OpenAIHttpSimulator:
    """The simulator server. `api_keys=None` accepts any bearer key (but one must be sent)."""

    def __init__(self, *, api_keys: set[str] | None = None, latency_s: float = 0.0) -> None:
        self.api_keys = api_keys
        self.latency_s = latency_s
        self.requests: list[SimRequest] = []
        self.port = 0
        self._host = "127.0.0.1"
        self._failures: deque[int] = deque()
        self._runner: web.AppRunner | None = None

    @property
    def base_url(self) -> str:
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"http://{host}:{self.port}/v1"

    def fail_next(self, status: int, times: int = 1) -> None:
        """The next ``times`` API requests fail with ``status`` (401, 408, 429, 500, 503...)."""
        self._failures.extend([status] * times)

    def count(self, path: str) -> int:
        return sum(1 for r in self.requests if r.path == path)

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        app = web.Application(client_max_size=MAX_BODY_BYTES)
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_post("/v1/embeddings", self._embeddings)
        app.router.add_route("*", "/{tail:.*}", self._not_found)
        self._runner = web.AppRunner(
            app, access_log=None, handle_signals=False, shutdown_timeout=1.0
        )
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        site = web.SockSite(self._runner, sock)
        await site.start()
        self._host = host
        self.port = int(sock.getsockname()[1])
        log.info("sim_openai_http_started", base_url=self.base_url)

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()
            log.info("sim_openai_http_stopped", requests=len(self.requests))

    async def __aenter__(self) -> OpenAIHttpSimulator:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # --- request plumbing --------------------------------------------------------------------

    async def _admit(self, request: web.Request) -> dict[str, Any] | web.Response:
        """Key check, queued failures, latency, JSON body; a Response means 'answer this'."""
        auth = request.headers.get("Authorization", "")
        if not auth.startswith("Bearer ") or not auth[7:].strip():
            return _error(401, "You didn't provide an API key.", "invalid_request_error")
        if self.api_keys is not None and auth[7:].strip() not in self.api_keys:
            return _error(
                401, "Incorrect API key provided.", "invalid_request_error", "invalid_api_key"
            )
        if self.latency_s:
            await asyncio.sleep(self.latency_s)
        if self._failures:
            status = self._failures.popleft()
            message, error_type, code = _FAILURES.get(
                status, ("Simulated failure.", "server_error", None)
            )
            return _error(status, message, error_type, code)
        try:
            body = json.loads(await request.read())
        except ValueError:
            return _error(
                400, "We could not parse the JSON body of your request.", "invalid_request_error"
            )
        if not isinstance(body, dict):
            return _error(400, "The request body must be a JSON object.", "invalid_request_error")
        self.requests.append(SimRequest(request.path, body))
        return body

    async def _not_found(self, request: web.Request) -> web.Response:
        return _error(
            404, f"Invalid URL ({request.method} {request.path})", "invalid_request_error"
        )

    # --- chat completions --------------------------------------------------------------------

    async def _chat(self, request: web.Request) -> web.Response:
        body = await self._admit(request)
        if isinstance(body, web.Response):
            return body
        try:
            model, text, response_format = chat_request(body)
            content = chat_answer(text, response_format)
        except BadRequest as exc:
            return _error(400, str(exc), "invalid_request_error", param=exc.param)
        prompt_tokens = token_count(text)
        completion_tokens = token_count(content)
        return web.json_response(
            {
                "id": "chatcmpl-" + secrets.token_hex(12),
                "object": "chat.completion",
                "created": int(time.time()),
                "model": model,
                "choices": [
                    {
                        "index": 0,
                        "message": {
                            "role": "assistant",
                            "content": content,
                            "refusal": None,
                            "annotations": [],
                        },
                        "logprobs": None,
                        "finish_reason": "stop",
                    }
                ],
                "usage": {
                    "prompt_tokens": prompt_tokens,
                    "completion_tokens": completion_tokens,
                    "total_tokens": prompt_tokens + completion_tokens,
                },
                "system_fingerprint": "fp_sim",
            }
        )

    # --- embeddings --------------------------------------------------------------------------

    async def _embeddings(self, request: web.Request) -> web.Response:
        body = await self._admit(request)
        if isinstance(body, web.Response):
            return body
        try:
            model, inputs, dimensions, encoding = embedding_request(body)
        except BadRequest as exc:
            return _error(400, str(exc), "invalid_request_error", param=exc.param)
        data = []
        for index, text in enumerate(inputs):
            vector = hash_embedding(text, dimensions)
            encoded: list[float] | str = vector
            if encoding == "base64":
                encoded = base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
            data.append({"object": "embedding", "index": index, "embedding": encoded})
        tokens = sum(token_count(t) for t in inputs)
        return web.json_response(
            {
                "object": "list",
                "data": data,
                "model": model,
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            }
        )


class OpenAIHttpSimulatorThread(SimulatorThread[OpenAIHttpSimulator]):
    """The simulator on its own event loop in a daemon thread, for the driver process."""

    def __init__(self, **options: Any) -> None:
        super().__init__(lambda: OpenAIHttpSimulator(**options), name="openai-http-sim")


async def _serve(host: str, port: int, api_key: str | None) -> None:
    sim = OpenAIHttpSimulator(api_keys={api_key} if api_key else None)
    await serve_until_cancelled(sim, host, port, log=log, event="sim_openai_http_listening")


def main(argv: list[str] | None = None) -> None:
    """`python -m engine.sim.openai_http --port 8766 [--api-key KEY]`."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8766)
    parser.add_argument("--api-key", default=None, help="accept only this bearer key")
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args.host, args.port, args.api_key))


if __name__ == "__main__":
    main()
