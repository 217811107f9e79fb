"""The Realtime simulator's control channel: registering a script from another process.

I/O: `ws://HOST:PORT/control` takes one JSON script registration (`realtime_script`'s wire
form) and answers `{"ok": true}` or `{"ok": false, "error": ...}`; `register_script` is the
client side.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from urllib.parse import urlsplit

import structlog
from picows.websockets import ServerConnection, connect
from picows.websockets.exceptions import ConnectionClosed

from engine.sim.realtime_handshake import CONTROL_PATH
from engine.sim.realtime_outbox import SEND_TIMEOUT_S
from engine.sim.realtime_script import Script, script_from_json, script_to_json

log = structlog.get_logger("engine.sim.realtime")


async def handle_control(ws: ServerConnection, add_script: Callable[[str, Script], None]) -> None:
    """Serve one registration on a control connection, handing the script to `add_script`."""
    try:
        async with asyncio.timeout(SEND_TIMEOUT_S):
            raw = await ws.recv()
            try:
                match, script = script_from_json(json.loads(raw))
            except (ValueError, UnicodeDecodeError) as exc:
                await ws.send(json.dumps({"ok": False, "error": str(exc)}))
                return
            add_script(match, script)
            log.info(
                "sim_script_registered",
                pii_match=match,
                transcripts=len(script.transcripts),
                replies=len(script.replies),
            )
            await ws.send(json.dumps({"ok": True}))
    except (TimeoutError, ConnectionClosed):
        log.info("sim_control_aborted")


async def register_script(base_url: str, match: str, script: Script) -> None:
    """Register `script` with a simulator running in another process (via `/control`)."""
    timeout = SEND_TIMEOUT_S
    parts = urlsplit(base_url)
    scheme = "wss" if parts.scheme in ("https", "wss") else "ws"
    async with (
        asyncio.timeout(timeout),
        connect(f"{scheme}://{parts.netloc}{CONTROL_PATH}", open_timeout=timeout) as ws,
    ):
        await ws.send(json.dumps(script_to_json(match, script)))
        reply = json.loads(await ws.recv())
    if not isinstance(reply, dict) or reply.get("ok") is not True:
        raise RuntimeError(f"script registration refused: {reply!r}")
