"""A memory actor's background loops: the post-call drain, the outbox, data retention and the
call writes' spool.

The drain loop claims due post-call jobs across tenants and runs them one at a time; it runs
only when a model is configured. The outbox loop (every actor) claims due deliveries and sends
them to the agency's systems (memory.outbox_drain); a method that emits an event wakes it, else
it polls every `outbox_poll_s`. The retention loop (actor 0, every `retention_interval_s`,
first within a minute of start) deletes each tenant's calls past retention (memory.retention)
and the login throttle's rows whose window and lock have passed (memory.login_throttle); a run
that fails is logged and the next one picks up where it stopped. Call writes that
Postgres cannot take are spooled to local disk and replayed in order (memory.call_writes).

Imported by the memory actor's module, which every call actor imports: the memory package is
imported where it is used, in the memory actor's own process.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING

import structlog

from engine import work_loop
from engine.config import EngineConfig

if TYPE_CHECKING:
    import asyncpg

    from memory import retention
    from memory.call_writes import CallWrites, PostCall
    from memory.outbox_drain import OutboxDrain
    from memory.service import MemoryService

log = structlog.get_logger(__name__)

MAX_CLAIM_BACKOFF_S = 30.0
RETENTION_FIRST_RUN_S = 60.0


class MemoryLoops:
    """The loops of memory actor `index`, started once its pool and service are up."""

    def __init__(self, config: EngineConfig, index: int) -> None:
        self._config = config
        self._index = index
        self.post_call_wake = asyncio.Event()  # a job was queued
        self.outbox_wake = asyncio.Event()  # an event was emitted, or a delivery slot freed
        self._drain: asyncio.Task[None] | None = None
        self._retention: asyncio.Task[None] | None = None
        self._outbox: asyncio.Task[None] | None = None
        self._outbox_drain: OutboxDrain | None = None
        self._writes: CallWrites | None = None
        self._spool_drain: asyncio.Task[None] | None = None

    def start(self, service: MemoryService, *, post_call: bool) -> None:
        loop = asyncio.get_running_loop()
        if post_call:
            self._drain = loop.create_task(
                self._drain_forever(service), name=f"post-call-drain-{self._index}"
            )
        self._outbox_drain = self._make_outbox_drain(service.pool)
        self._outbox = loop.create_task(
            self._outbox_forever(self._outbox_drain), name=f"outbox-{self._index}"
        )
        if self._index == 0 and self._config.retention_interval_s > 0:
            self._retention = loop.create_task(
                self._retention_forever(service.pool), name="retention"
            )

    def health(self) -> dict[str, bool | int]:
        return {
            "post_call_drain": self._drain is not None and not self._drain.done(),
            "retention": self._retention is not None and not self._retention.done(),
            "outbox": self._outbox is not None and not self._outbox.done(),
            "spooled_writes": self._writes.pending if self._writes is not None else 0,
        }

    def call_writes(
        self, db: Callable[[], Awaitable[asyncpg.Pool]], enqueue_post_call: PostCall
    ) -> CallWrites:
        """The call path's writes, made with the loop draining their spool on first use."""
        if self._writes is None:
            from memory.call_writes import CallWrites
            from memory.write_spool import WriteSpool

            spool = WriteSpool(Path(self._config.spool_dir) / f"memory-{self._index}.jsonl")
            self._writes = CallWrites(
                spool, db, enqueue_post_call, outbox_queue=self._config.outbox_queue_name()
            )
            self._spool_drain = asyncio.get_running_loop().create_task(
                self._writes.drain_forever(), name=f"spool-drain-{self._index}"
            )
        return self._writes

    # --- post-call drain loop ----------------------------------------------------------------

    async def _drain_forever(self, service: MemoryService) -> None:
        async def step() -> bool:
            if not await service.jobs.run_next_job():
                return False
            self.outbox_wake.set()  # a finished job may have reported call.analyzed
            return True

        await work_loop.run_forever(
            step,
            self.post_call_wake,
            poll_s=self._config.post_call_poll_s,
            max_backoff_s=MAX_CLAIM_BACKOFF_S,
            on_error=self._claim_failed("post_call_claim_failed"),
        )

    def _claim_failed(self, event: str) -> Callable[[Exception], None]:
        """The database is unreachable: the loop backs off and keeps going."""
        return lambda exc: log.warning(event, index=self._index, error=repr(exc))

    # --- outbox -------------------------------------------------------------------------------

    def _make_outbox_drain(self, pool: asyncpg.Pool) -> OutboxDrain:
        from engine.notion_client import NotionClient
        from engine.webhook_sender import WebhookSender
        from memory.outbox_drain import OutboxDrain, OutboxPolicy, TwilioDefaults

        config = self._config
        policy = OutboxPolicy(
            batch=config.outbox_batch,
            lease_s=config.outbox_lease_s,
            max_attempts=config.outbox_max_attempts,
            backoff_s=config.outbox_backoff_s,
            max_backoff_s=config.outbox_max_backoff_s,
            timeout_s=config.outbox_timeout_s,
        )
        twilio = TwilioDefaults(
            config.twilio_api_base_url, config.twilio_account_sid, config.twilio_auth_token
        )
        return OutboxDrain(
            pool,
            config.jwt_secret,
            config.outbox_queue_name(),
            policy,
            WebhookSender(timeout_s=config.outbox_timeout_s),
            twilio,
            NotionClient(config.notion_api_base_url, timeout_s=config.outbox_timeout_s),
            config.public_base_url.rstrip("/") + "/api/v1/calls/{call_sid}",
            on_slot_free=self.outbox_wake.set,
        )

    async def _outbox_forever(self, drain: OutboxDrain) -> None:
        await work_loop.run_forever(
            drain.run_once,
            self.outbox_wake,
            poll_s=self._config.outbox_poll_s,
            max_backoff_s=MAX_CLAIM_BACKOFF_S,
            on_error=self._claim_failed("outbox_claim_failed"),
        )

    async def run_outbox(self, limit: int) -> int:
        """Deliver up to about ``limit`` due outbox rows now and wait for them."""
        assert self._outbox_drain is not None, "started with the service"
        return await self._outbox_drain.run_until_idle(limit)

    # --- data retention ----------------------------------------------------------------------

    def _recording_remover(self) -> retention.RecordingRemover:
        from memory.recording_files import RecordingStore

        return RecordingStore(Path(self._config.recordings_dir)).remove_many

    async def _retention_forever(self, pool: asyncpg.Pool) -> None:
        from memory import retention

        interval = self._config.retention_interval_s
        delay = min(RETENTION_FIRST_RUN_S, interval)
        remove = self._recording_remover()
        while True:
            await asyncio.sleep(delay * random.uniform(0.9, 1.1))
            delay = interval
            try:
                await retention.purge_all(pool, remove)
            except Exception as exc:  # tenants could not be listed: the next run tries again
                log.warning("retention_run_failed", index=self._index, error=repr(exc))
            await self._prune_login_throttle(pool)

    async def _prune_login_throttle(self, pool: asyncpg.Pool) -> None:
        from memory import login_throttle

        try:
            pruned = await login_throttle.prune(pool, window_s=login_throttle.FAILURE_WINDOW_S)
        except Exception as exc:  # the next run deletes what this one left
            log.warning("login_throttle_prune_failed", index=self._index, error=repr(exc))
            return
        if pruned:
            log.info("login_throttle_pruned", rows=pruned)

    async def run_retention(self, pool: asyncpg.Pool) -> dict[str, int]:
        """Purge every tenant's calls past retention, and the lapsed login throttle rows, now;
        the calls' totals deleted."""
        from memory import retention

        results = await retention.purge_all(pool, self._recording_remover())
        await self._prune_login_throttle(pool)
        return sum((r.counts for r in results), retention.PurgeCounts()).as_dict()

    async def close(self) -> None:
        tasks = [
            t
            for t in (self._drain, self._retention, self._outbox, self._spool_drain)
            if t is not None
        ]
        self._drain = self._retention = self._outbox = self._spool_drain = None
        self._writes = None
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        drain, self._outbox_drain = self._outbox_drain, None
        if drain is not None:
            await drain.aclose()
