"""CallPool: the named actor `call_pool` that keeps K warm call actors ready.

Starting a Ray actor costs hundreds of milliseconds; a caller must never wait for it. The pool
starts call actors ahead of time (each binds its media port on start), hands one out on claim,
and starts a replacement in the background. A claim answers with the media URL (known from the
actor's port) as soon as it has sent `prepare`, without waiting for the reply: the actor holds
Twilio's handshake until the call is handed over. When a call ends, its actor is recycled into
the warm set (a new session for the next call) unless it retires; then it is killed. So after a
burst the warm set holds more than K actors; the excess is let go slowly, one per
`pool_idle_trim_s`. While calls are live, refills pause between starts (`pool_refill_pause_s`):
an actor start costs about a CPU-second, which live audio must not lose.

State it owns: the warm actors (with their ports), the active calls (CallSid -> actor), and the
measurements reported by finished calls (for /metrics).

Idempotent methods: `claim` for a CallSid already claimed returns the same media URL;
`call_ended`; `stats`; `check_health`.

When it dies: Ray restarts it with an empty pool that refills at once. Call actors are
detached, so live calls go on; when they end they report to the new pool, which kills them.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from typing import Any, Protocol

import structlog

from actors.ports import CallReport, CallSetup
from engine.config import EngineConfig
from engine.histogram import Histogram

log = structlog.get_logger(__name__)

GREETING_BUCKETS_MS = (25, 50, 100, 250, 500, 1000, 2500, 5000)
CLAIM_BUCKETS_MS = (1, 2, 5, 10, 25, 50, 100, 250, 1000, 5000)


class CallActorFactory(Protocol):
    def spawn(self) -> Any: ...
    async def start(self, handle: Any) -> int: ...
    async def prepare(self, handle: Any, setup: CallSetup) -> str: ...
    async def recycle(self, handle: Any) -> bool: ...
    def kill(self, handle: Any) -> None: ...


class CallPool:
    def __init__(self, config: EngineConfig, factory: CallActorFactory | None = None) -> None:
        if factory is None:
            from actors.handles import RayCallActorFactory

            factory = RayCallActorFactory(config)
        self._factory = factory
        self._target = config.warm_calls
        self._config = config
        self._warm: list[tuple[Any, int]] = []  # (actor, media port)
        self._tasks: set[asyncio.Task[None]] = set()
        self._recycled = 0
        self._trim_task: asyncio.Task[None] | None = None
        self._starting = 0
        self._active: dict[str, tuple[Any, str, int]] = {}  # call -> (actor, url, attempt)
        self._refill_task: asyncio.Task[None] | None = None
        self._warmed = asyncio.Event()
        self._outcomes: Counter[str] = Counter()
        self._claims = {"warm": 0, "cold": 0}
        self._claim_ms = Histogram(
            bounds=CLAIM_BUCKETS_MS, counts=[0] * (len(CLAIM_BUCKETS_MS) + 1)
        )
        self._greeting_ms = Histogram(
            bounds=GREETING_BUCKETS_MS, counts=[0] * (len(GREETING_BUCKETS_MS) + 1)
        )
        self._turn_ms = Histogram(
            bounds=GREETING_BUCKETS_MS, counts=[0] * (len(GREETING_BUCKETS_MS) + 1)
        )
        self._inbound = Histogram()
        self._outbound = Histogram()
        self._barge_ins = 0
        self._model_errors = 0
        self._frames = {"in": 0, "out": 0, "dropped": 0}

    def __repr__(self) -> str:
        return f"CallPool(warm={len(self._warm)}, active={len(self._active)})"

    def _kick_refill(self) -> None:
        if self._refill_task is None or self._refill_task.done():
            self._refill_task = asyncio.get_running_loop().create_task(self._refill())

    async def _refill(self) -> None:
        while len(self._warm) + self._starting < self._target:
            if self._active and self._config.pool_refill_pause_s > 0:
                await asyncio.sleep(self._config.pool_refill_pause_s)
                if len(self._warm) + self._starting >= self._target:
                    return  # a finished call's actor came back meanwhile
            self._starting += 1
            try:
                handle = self._factory.spawn()
                port = await self._factory.start(handle)
                self._warm.append((handle, port))
                self._warmed.set()
            except Exception as exc:
                log.error("call_actor_start_failed", error=repr(exc))
                await asyncio.sleep(1.0)
            finally:
                self._starting -= 1

    async def warm_up(self, timeout: float = 60.0) -> int:
        """Fill the pool and wait until it is full (start-up, tests). Returns warm count."""
        self._kick_refill()
        deadline = time.monotonic() + timeout
        while len(self._warm) < self._target:
            self._warmed.clear()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._warmed.wait(), remaining)
        return len(self._warm)

    async def claim(self, setup: CallSetup) -> str:
        """Hand a call to a warm actor (or, when none is warm, a new one) and return the media
        URL Twilio should connect to; the actor's `prepare` is sent, not awaited."""
        known = self._active.get(setup.call_sid)
        if known is not None and known[2] == setup.attempt:
            return known[1]
        if known is not None:  # the call resumes: its previous actor is gone or going
            self._kill_quietly(known[0])
        began = time.perf_counter()
        if self._warm:
            handle, port = self._warm.pop()
            kind = "warm"
        else:
            handle = self._factory.spawn()
            port = await self._factory.start(handle)
            kind = "cold"
        self._kick_refill()
        url = self._config.media_url(port, setup.call_sid)
        self._active[setup.call_sid] = (handle, url, setup.attempt)
        self._track(self._prepare(handle, setup))
        elapsed = (time.perf_counter() - began) * 1000
        self._claims[kind] += 1
        self._claim_ms.observe(elapsed)
        log.info("call_claimed", call_sid=setup.call_sid, kind=kind, claim_ms=round(elapsed, 2))
        return url

    async def _prepare(self, handle: Any, setup: CallSetup) -> None:
        """A failed prepare leaves Twilio a dead stream: its `<Connect action>` then resumes the
        call on another actor (admin_api.webhooks)."""
        try:
            await self._factory.prepare(handle, setup)
        except Exception as exc:
            log.error("call_prepare_failed", call_sid=setup.call_sid, error=repr(exc))
            entry = self._active.get(setup.call_sid)
            if entry is not None and entry[0] is handle:
                del self._active[setup.call_sid]
            self._kill_quietly(handle)

    def _track(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def call_ended(self, report: CallReport, handle: Any = None) -> None:
        entry = self._active.pop(report.call_sid, None)
        target = handle if handle is not None else (entry[0] if entry else None)
        self._outcomes[report.outcome] += 1
        if report.greeting_ms is not None:
            self._greeting_ms.observe(report.greeting_ms)
        for ms in report.turn_ms:
            self._turn_ms.observe(ms)
        if report.inbound_latency_us:
            self._inbound.merge(report.inbound_latency_us)
        if report.outbound_latency_us:
            self._outbound.merge(report.outbound_latency_us)
        self._barge_ins += report.barge_ins
        self._model_errors += report.model_errors
        self._frames["in"] += report.frames_in
        self._frames["out"] += report.frames_out
        self._frames["dropped"] += report.dropped_frames
        if target is not None:
            self._track(self._recycle(target))

    async def _recycle(self, handle: Any) -> None:
        """Back into the warm set when the actor is ready for another call, else killed (after
        its own call_ended has returned)."""
        try:
            ready = await self._factory.recycle(handle)
            port = await self._factory.start(handle) if ready else None
        except Exception as exc:
            log.warning("call_actor_recycle_failed", error=repr(exc))
            ready, port = False, None
        if ready and port is not None:
            self._warm.append((handle, port))
            self._recycled += 1
            self._warmed.set()
            if len(self._warm) > self._target and self._trim_task is None:
                self._trim_task = asyncio.get_running_loop().create_task(self._trim())
            return
        await asyncio.sleep(0.5)
        self._kill_quietly(handle)
        self._kick_refill()

    async def _trim(self) -> None:
        """Let idle actors above the warm target go, the longest idle first, slowly."""
        try:
            while len(self._warm) > self._target:
                await asyncio.sleep(self._config.pool_idle_trim_s)
                if len(self._warm) > self._target:
                    handle, _ = self._warm.pop(0)
                    self._kill_quietly(handle)
        finally:
            self._trim_task = None

    def _kill_quietly(self, handle: Any) -> None:
        with contextlib.suppress(Exception):
            self._factory.kill(handle)

    async def stats(self) -> dict[str, Any]:
        """Counts and histograms for /metrics and the operator."""
        return {
            "warm": len(self._warm),
            "starting": self._starting,
            "active": len(self._active),
            "target_warm": self._target,
            "outcomes": dict(self._outcomes),
            "claims": dict(self._claims),
            "recycled": self._recycled,
            "claim_ms": (self._claim_ms.bounds, list(self._claim_ms.counts), self._claim_ms.sum),
            "greeting_ms": (
                self._greeting_ms.bounds,
                list(self._greeting_ms.counts),
                self._greeting_ms.sum,
            ),
            "turn_ms": (self._turn_ms.bounds, list(self._turn_ms.counts), self._turn_ms.sum),
            "inbound_latency_us": (self._inbound.bounds, list(self._inbound.counts), 0.0),
            "outbound_latency_us": (self._outbound.bounds, list(self._outbound.counts), 0.0),
            "barge_ins": self._barge_ins,
            "model_errors": self._model_errors,
            "frames": dict(self._frames),
        }

    async def active_calls(self) -> list[str]:
        return list(self._active)

    async def actor_for(self, call_sid: str) -> Any:
        """The actor serving a call (operators and tests), or None."""
        entry = self._active.get(call_sid)
        return entry[0] if entry is not None else None

    async def check_health(self) -> dict[str, object]:
        return {"warm": len(self._warm), "active": len(self._active)}
