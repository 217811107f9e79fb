"""CallActor: the Ray actor live calls run in - its process, its media port, its calls.

State it owns: the media WebSocket server (actors/media_server.py, bound once, on its own port
of the configured range) and one `CallSession` (actors/call_session.py) per call it serves, which
owns everything about that call. The server hands each handshake and connection to the session
whose media URL was asked for (the path carries the CallSid), and answers the handshake at once
(403 for a bad signature, 503 for a call that is over here or a retired actor, 404 for what
cannot be a stream of this actor); a stream whose call has not been handed over yet waits for
`prepare` (media_server.PREPARE_WAIT_S). The server is picows' callback API: a caller's audio
frame is relayed to the model inside the callback that read it (actors/twilio_socket.py).

How many calls at once: `calls_per_actor` (50 as shipped, a call process per core of the
node; 1 is the original design's one process per call). "Each live call is an actor" has become
"each live call is a session": every call still has its own sockets, state machine, history,
tasks and metrics, and nothing of one caller reaches another, but up to 50 of them share an
actor process. That is what a node needs to hold a burst: every Ray worker process costs ~6 ms/s
of CPU even idle (Ray's 10 ms signal-check timer) and about a CPU-second to start, and a call's
audio costs more the fewer calls share its process, since the process's event loop wakes up for
fewer frames at a time (bench/README.md). What is lost: a crashing process takes its calls with
it, each resumed from Postgres on a fresh actor through `<Connect action>` as a single call
would be.

Calls follow one another too: when a call is over, the pool asks `recycle`, which waits for its
session to finish, cancels whatever it left running and drops it. An actor retires (recycle
answers False) after `call_actor_max_calls` calls, or when a session's tasks would not stop;
the pool replaces it once its calls are over.

While calls are live, one task reports their measurements so far to the pool every
`metrics_flush_s` (one Ray call for all of them, never per frame), so /metrics shows a long call
before it ends.

Idempotent methods: `start` (returns the same address), `prepare` for a call it already serves
(returns the same URL), `recycle`, `check_health`.

When it dies mid-call: see CallSession - Twilio asks the `<Connect action>`, and the webhook
resumes each of its calls on a fresh actor from the turns in Postgres.
"""

from __future__ import annotations

import asyncio
import errno
import os
import random
import re
from collections import deque
from urllib.parse import urlsplit

import structlog

from actors.call_session import CallSession
from actors.media_server import MediaServer
from actors.ports import CallControl, CallLifecycle, CallSetup, MemoryClient
from actors.ray_runtime import Shown, node_address, node_id
from engine.config import EngineConfig, MediaAddress
from engine.logs import configure_actor

DONE_WAIT_S = 5.0
GONE_PATHS = 256  # media paths of calls recycled here, refused at once
MEMORY_PING_S = 10.0

log = structlog.get_logger(__name__)


def _media_path(config: EngineConfig, address: MediaAddress) -> re.Pattern[str]:
    """What the path of a media URL leading to `address` looks like, for any CallSid."""
    marker = "CA" + "0" * 32
    path = urlsplit(config.media_url(address, marker)).path
    return re.compile(re.escape(path).replace(marker, "CA[0-9a-f]{32}"))


class CallActor:
    def __init__(
        self,
        config: EngineConfig,
        memory: MemoryClient,
        lifecycle: CallLifecycle | None = None,
        control: CallControl | None = None,
    ) -> None:
        configure_actor(config)
        self._config = config
        self._memory = memory
        self._lifecycle = lifecycle
        self._control = control
        self._server = MediaServer(self)
        self._port: int | None = None
        self._address = MediaAddress("127.0.0.1", 0)
        self._sessions: dict[str, CallSession] = {}  # CallSid -> its session, until recycled
        self._latest: CallSession | None = None
        self._served = 0
        self._retired = False
        self._flush: asyncio.Task[None] | None = None  # live calls' measurements to the pool
        self._gone: deque[str] = deque(maxlen=GONE_PATHS)
        self._media_path = re.compile("(?!)")  # the paths of this actor's media URLs, once bound
        self._shown = Shown("live_calls")  # the live calls: a running task named for them, in Ray

    def __repr__(self) -> str:
        """What Ray shows for the actor (recorded once, at creation): its live calls are in the
        name of its running `live_calls` task."""
        return f"CallActor({self._config.calls_per_actor} call slots)"

    def _live(self) -> list[CallSession]:
        return [s for s in self._sessions.values() if not s.done]

    async def start(self) -> MediaAddress:
        """Bind the media WebSocket server on a free port of the configured range; the address
        names this actor's node, so its media URLs lead here."""
        if self._port is not None:
            return self._address
        low, high = self._config.media_port_range
        ports = list(range(low, high + 1))
        offset = random.randrange(len(ports))
        for port in ports[offset:] + ports[:offset]:
            try:
                await self._server.bind(self._config.media_bind_host, port)
            except OSError as exc:
                if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                    continue
                raise
            self._address = MediaAddress(node_address(), port, node_id())
            self._port = port
            self._media_path = _media_path(self._config, self._address)
            await self._connect_memory()
            if self._lifecycle is not None and self._config.metrics_flush_s > 0:
                self._flush = asyncio.get_running_loop().create_task(self._flush_live())
            return self._address
        raise RuntimeError(f"no free media port in {low}-{high}")

    async def _connect_memory(self) -> None:
        try:
            await asyncio.wait_for(self._memory.ping(), MEMORY_PING_S)
        except Exception as exc:  # the first call pays for the connection instead
            log.warning("memory_ping_failed", error=repr(exc))

    async def _flush_live(self) -> None:
        assert self._lifecycle is not None
        while True:
            await asyncio.sleep(self._config.metrics_flush_s)
            # only the reports are kept across the sleep: a list of the sessions would hold
            # every call that was live at this flush until the next one, ended and recycled
            reports = [session.progress() for session in self._live()]
            if not reports:
                continue
            try:
                await self._lifecycle.calls_live(reports)
            except Exception as exc:  # the next flush carries the same counts, and more
                log.warning("live_metrics_not_sent", error=repr(exc))

    async def prepare(self, setup: CallSetup) -> str:
        """Take on a call: returns the media URL at once (see CallSession.begin)."""
        address = await self.start()
        known = self._sessions.get(setup.call_sid)
        if known is not None and not known.done:
            return known.media_url
        if len(self._live()) >= self._config.calls_per_actor:
            raise RuntimeError("this call actor is full")
        if self._retired:
            raise RuntimeError("this call actor is retired")
        session = CallSession(
            self._config, self._memory, self._lifecycle, self._control, address, setup
        )
        self._sessions[setup.call_sid] = session
        self._latest = session
        self._served += 1
        url = session.begin()
        self._shown.show(setup.call_sid, f"call {setup.call_sid} ({setup.tenant.name})")
        self._server.handed_over()
        return url

    async def recycle(self, call_sid: str | None = None) -> bool:
        """Once `call_sid`'s call is over (waited for), or every call that is over (None): drop
        its session, cancelling what it left running. True when this actor takes more calls,
        False: retire me."""
        if call_sid is None:
            sids = [sid for sid, session in self._sessions.items() if session.done]
        else:
            sids = [call_sid]
        for sid in sids:
            session = self._sessions.get(sid)
            if session is None:
                continue
            if await session.wait_done(DONE_WAIT_S) is None and not session.done:
                return False
            stopped = await session.drain()
            del self._sessions[sid]
            if self._latest is session:  # nothing of a recycled call stays here
                self._latest = None
            self._shown.end(sid)
            self._gone.append(session.media_path)
            if not stopped:
                self._retired = True
        if self._served >= self._config.call_actor_max_calls:
            self._retired = True
        return not self._retired and self._port is not None

    async def live_calls(self, token: str) -> None:
        """Runs while this actor's live calls are those its name lists, each as `call <CallSid>
        (<tenant>)`: Ray lists it as a running task (ray_runtime.Shown)."""
        await self._shown.hold(token)

    async def check_health(self) -> dict[str, object]:
        live = self._live()
        health: dict[str, object] = {
            "pid": os.getpid(),
            "port": self._port,
            "served": self._served,
            "live_calls": len(live),
            "retired": self._retired,
        }
        latest = self._latest
        if latest is None or (latest.done and self._sessions.get(latest.call_sid or "") is None):
            return {**health, "call_sid": None, "phase": "warm"}
        return {**health, **await latest.check_health()}

    async def wait_done(self, timeout: float) -> str | None:
        """Wait for the latest call to end; its outcome, or None on timeout or no call."""
        latest = self._latest
        return await latest.wait_done(timeout) if latest is not None else None

    async def shutdown(self, timeout: float = 5.0) -> str | None:
        """End whatever this actor is doing (engine shutdown, tests); the latest outcome."""
        outcomes = await asyncio.gather(
            *(session.shutdown(timeout) for session in self._sessions.values())
        )
        self._shown.end_all()
        self._server.close()
        if self._flush is not None:
            self._flush.cancel()
        latest = self._latest
        if latest is None or latest.call_sid not in self._sessions:
            return None
        return outcomes[list(self._sessions).index(latest.call_sid)]

    # --- what the media server asks (media_server.StreamRoutes) ------------------------------

    def session_for(self, path: str) -> CallSession | None:
        found = [s for s in self._sessions.values() if s.media_path == path]
        live = [s for s in found if not s.done]
        return live[0] if len(live) == 1 else (found[-1] if found else None)

    def refuses(self, path: str) -> bool:
        return self._retired or path in self._gone

    def may_come(self, path: str) -> bool:
        return self._media_path.fullmatch(path) is not None
