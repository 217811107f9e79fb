"""What the WebSocket simulators (OpenAI Realtime, ElevenLabs) share about their picows server.

I/O: answering a refused handshake with a JSON body, as the providers do, and closing the
server with every connection on it.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from picows.websockets import Response, Server, ServerHandshakeConnection


def json_response(connection: ServerHandshakeConnection, status: int, body: Any) -> Response:
    """An HTTP answer to a handshake with a JSON body (picows' default type is text/plain)."""
    response = connection.respond(status, json.dumps(body))
    del response.headers["Content-Type"]
    response.headers["Content-Type"] = "application/json"
    return response


async def close_server(server: Server, timeout_s: float) -> bool:
    """Close the server and every connection on it; False if they did not all end in time."""
    server.close(close_connections=True)
    try:
        async with asyncio.timeout(timeout_s):
            await server.wait_closed()
    except TimeoutError:
        return False
    return True
