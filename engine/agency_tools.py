"""Calling a tool an agency defined for its agent. I/O: HTTP (httpx) to the agency's server.

The model's validated arguments go out as one JSON body, signed like the outgoing webhooks
(engine.signing: `NeuroSphere-Signature: t=<unix>,v1=<HMAC-SHA256(secret, "<t>.<body>")>`),
with the function call's id as `Idempotency-Key`. The agency's answer must be a JSON object
of at most MAX_ANSWER_BYTES; it goes to the model as `result`. Everything else - a timeout, a
refused or broken connection, a non-2xx status, a body that is not a JSON object or is too
big - becomes a polite "could not look that up" for the model, with a reason in the log and a
status for the tool's metrics. Nothing here raises, and nothing waits beyond the tool's timeout.

One HTTP client per event loop (a call actor's sessions share it, and its connections), made
off the loop.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import time
import weakref
from dataclasses import dataclass
from typing import Any

import httpx
import structlog

from engine.config import AgencyTool
from engine.signing import SIGNATURE_HEADER, sign
from engine.tools import ToolStatus

log = structlog.get_logger(__name__)

USER_AGENT = "NeuroSphere-Tools/1"
MAX_ANSWER_BYTES = 16 * 1024  # what the model is handed; a bigger answer is refused
UNAVAILABLE = {
    "ok": False,
    "error": "the lookup is unavailable right now",
    "next": "Tell the caller politely that you couldn't look that up just now, and offer to "
    "take a message so someone can follow up.",
}

_clients: weakref.WeakKeyDictionary[
    asyncio.AbstractEventLoop, asyncio.Future[httpx.AsyncClient]
] = weakref.WeakKeyDictionary()


def _new_client() -> httpx.AsyncClient:
    return httpx.AsyncClient(
        follow_redirects=False,
        headers={"User-Agent": USER_AGENT},
        limits=httpx.Limits(max_connections=100, max_keepalive_connections=20),
    )


async def _client() -> httpx.AsyncClient:
    """This loop's client, made once in a thread: loading the TLS trust store takes tens of
    milliseconds of CPU, which the loop's audio must not wait for."""
    loop = asyncio.get_running_loop()
    made = _clients.get(loop)
    if made is None:
        made = _clients[loop] = loop.create_task(asyncio.to_thread(_new_client))
    return await asyncio.shield(made)


async def warm() -> None:
    """Ready this loop's client and the schema checker, off the loop, before a call's model
    asks for its first lookup (either would otherwise cost that lookup tens of milliseconds)."""
    await _client()
    await asyncio.to_thread(importlib.import_module, "jsonschema")


@dataclass(frozen=True, slots=True)
class AgencyAnswer:
    output: dict[str, Any]  # for the model
    status: ToolStatus
    reason: str = ""  # why it failed, for the log ("" when it did not)


def _failed(reason: str, status: ToolStatus = "error") -> AgencyAnswer:
    return AgencyAnswer(dict(UNAVAILABLE), status, reason)


def request_body(tool: AgencyTool, call_sid: str, call_id: str, args: dict[str, Any]) -> bytes:
    body = {"tool": tool.name, "call_sid": call_sid, "call_id": call_id, "arguments": args}
    return json.dumps(body, separators=(",", ":")).encode()


async def _read(response: httpx.Response) -> bytes | None:
    """The body, or None once it passes MAX_ANSWER_BYTES (read no further)."""
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > MAX_ANSWER_BYTES:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > MAX_ANSWER_BYTES:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


async def _post(tool: AgencyTool, body: bytes, call_id: str) -> AgencyAnswer:
    headers = {
        "Content-Type": "application/json",
        "Idempotency-Key": call_id,
        "NeuroSphere-Tool": tool.name,
        SIGNATURE_HEADER: sign(tool.secret, body, time.time()),
    }
    try:
        client = await _client()
        async with client.stream(
            "POST", tool.url, content=body, headers=headers, timeout=tool.timeout_s
        ) as response:
            if not 200 <= response.status_code < 300:
                return _failed(f"HTTP {response.status_code}")
            raw = await _read(response)
    except httpx.TimeoutException as exc:
        return _failed(f"timeout: {type(exc).__name__}", "timeout")
    except httpx.HTTPError as exc:
        return _failed(f"{type(exc).__name__}: {exc}"[:200])
    if raw is None:
        return _failed(f"answer over {MAX_ANSWER_BYTES} bytes")
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError):
        return _failed("answer is not JSON")
    if not isinstance(value, dict):
        return _failed("answer is not a JSON object")
    return AgencyAnswer({"ok": True, "result": value}, "ok")


async def call(tool: AgencyTool, call_sid: str, call_id: str, args: dict[str, Any]) -> AgencyAnswer:
    """POST the arguments to the agency's server; its answer, or the polite failure, within
    `tool.timeout_s` (the whole exchange: connect, send, wait and read)."""
    body = request_body(tool, call_sid, call_id, args)
    try:
        answer = await asyncio.wait_for(_post(tool, body, call_id), tool.timeout_s)
    except TimeoutError:
        answer = _failed("timeout: no whole answer in time", "timeout")
    if answer.reason:
        log.warning("agency_tool_failed", tool=tool.name, reason=answer.reason)
    return answer
