"""A console test call's media: the page's WebSocket, speaking the Twilio media-stream
protocol, relayed to the call actor's media URL, which is opened exactly as Twilio opens it
(the X-Twilio-Signature comes from the tenant actor, which holds the auth token). I/O: both
sockets.

Only the page's first messages are read, up to its `start`, into which the stream's token is
put (the page never holds it); after that, frames pass through untouched in both directions:
no parsing and no Ray call per audio frame. Either side closing ends the other.
"""

from __future__ import annotations

import asyncio
import contextlib
import json

import aiohttp
from starlette.websockets import WebSocket, WebSocketDisconnect

from actors.media_handshake import SIGNATURE_HEADER

CONNECT_TIMEOUT_S = 10.0
START_TIMEOUT_S = 10.0
MAX_MESSAGE = 64 * 1024  # as the call actor's server allows


class RelayRefused(ValueError):
    """The page broke the protocol before its stream started."""


def with_token(text: str, token: str) -> tuple[str, bool]:
    """The page's message, with the stream token put into a `start`; and whether it was one."""
    try:
        message = json.loads(text)
    except ValueError:
        raise RelayRefused("a message that is not JSON") from None
    if not isinstance(message, dict) or not isinstance(message.get("event"), str):
        raise RelayRefused("a message without an event")
    if message["event"] != "start":
        return text, False
    start = message.get("start")
    if not isinstance(start, dict):
        raise RelayRefused("a start without its details")
    params = start.get("customParameters") or {}
    if not isinstance(params, dict):
        raise RelayRefused("start.customParameters must be an object")
    start["customParameters"] = {**params, "token": token}
    return json.dumps(message), True


async def _to_engine(page: WebSocket, engine: aiohttp.ClientWebSocketResponse) -> None:
    with contextlib.suppress(WebSocketDisconnect):
        while True:
            await engine.send_str(await page.receive_text())


async def _to_page(page: WebSocket, engine: aiohttp.ClientWebSocketResponse) -> None:
    async for frame in engine:
        if frame.type != aiohttp.WSMsgType.TEXT:
            return
        await page.send_text(frame.data)


async def relay(page: WebSocket, media_url: str, signature: str, token: str) -> None:
    """Open the call's media stream and pass frames between it and the page until either
    closes. RelayRefused when the page's first messages are not the protocol."""
    timeout = aiohttp.ClientWSTimeout(ws_close=5.0)
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=CONNECT_TIMEOUT_S)) as http,
        http.ws_connect(
            media_url,
            headers={SIGNATURE_HEADER: signature},
            timeout=timeout,
            max_msg_size=MAX_MESSAGE,
            autoping=True,
        ) as engine,
    ):
        started = False
        while not started:
            text = await asyncio.wait_for(page.receive_text(), START_TIMEOUT_S)
            text, started = with_token(text, token)
            await engine.send_str(text)
        tasks = [
            asyncio.create_task(_to_engine(page, engine)),
            asyncio.create_task(_to_page(page, engine)),
        ]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
