"""The sockets a call session talks through, as Protocols: Twilio's media socket and the link to
the realtime model. In production they are actors/twilio_socket.py and actors/model_link.py;
the session's unit tests drive the session through hand-written fakes of these.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any, Protocol

# Handles one frame read from a socket, with the `perf_counter_ns()` it was read at, inside the
# callback that read it: returns None when it is done with it there, or a coroutine that the
# socket runs before the frames read after it.
FrameHandler = Callable[[str | bytes, int], Coroutine[Any, Any, None] | None]


class MediaClosed(ConnectionError):
    """Twilio's media socket is closing or gone: what was sent on it goes nowhere."""


class MediaSocket(Protocol):
    """The Twilio media stream's WebSocket, as accepted by the call actor's server."""

    async def serve(self, on_frame: FrameHandler) -> str:
        """Hand every frame to `on_frame`, in order, until the socket is gone: why it went."""
        ...

    async def send(self, message: str) -> None:
        """Written at once; waits while the write buffer is full. Raises MediaClosed."""
        ...

    async def close(self, code: int = 1000, reason: str = "") -> None: ...


class ModelListener(Protocol):
    """What a model link reports to its call session."""

    async def model_opened(self, reconnected: bool) -> list[str]:
        """A session is open: the frames it starts with."""
        ...

    async def model_frame(self, frame: str | bytes, received_ns: int) -> None:
        """A frame from the model, with the `perf_counter_ns()` it was received at."""
        ...

    async def model_gone(self, permanent: bool, reason: str) -> None:
        """The model is lost for good (called once)."""
        ...


class ModelChannel(Protocol):
    """The link to the realtime model (actors/model_link.py), as the call session uses it."""

    reconnects: int
    last_gap_ms: float | None
    dropped: int  # caller frames dropped while the link was down and its backlog full
    opened_at: float  # monotonic seconds when the current session opened

    @property
    def ready(self) -> bool: ...
    def send(self, text: str) -> bool:
        """Written at once, no coroutine: True when sent now; False when held for the next
        session or a drained write buffer (or dropped)."""
        ...

    def rotate(self) -> None: ...
    async def run(self) -> None: ...
    async def close(self) -> None: ...
