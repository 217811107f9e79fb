"""Cutting a simulator's WebSocket connection the way a network failure would.

I/O: aborts the TCP transport under a picows `websockets`-compatible server connection, so the
peer sees the socket drop without a close frame.
"""

from __future__ import annotations

import gc

import picows
from picows.websockets import ServerConnection


def abort_connection(ws: ServerConnection) -> None:
    """Cut a connection's TCP socket without a close frame. picows' compatible connection keeps
    its WebSocket transport private, so it is found among the connection's own references."""
    for ref in gc.get_referents(ws):
        if isinstance(ref, picows.WSTransport):
            ref.underlying_transport.abort()
            return
    raise RuntimeError("no transport found on the connection: it cannot be aborted")
