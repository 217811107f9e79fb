"""What the admin API holds per Serve replica: the key ring, the password hasher, the login
rate limits, the recordings store, an HTTP client for Twilio downloads, and the set of
background tasks (recording downloads) it owns. I/O: none at construction beyond hashing the
dummy password; `close` cancels the tasks and closes the client.

When the replica dies, in-flight downloads are lost with it; their recordings stay `pending`
and the tenant's next recording callback starts them again (admin_api.routers.recording_webhook).
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import structlog

from admin_api.passwords import Passwords
from admin_api.ratelimit import SlidingWindow
from admin_api.recording_store import RecordingStore
from engine.config import EngineConfig
from engine.tokens import KeyRing

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class AuthPolicy:
    access_ttl_s: int = 15 * 60
    refresh_ttl_s: int = 24 * 3600  # a refresh token unused for a day expires
    session_ttl_s: int = 7 * 24 * 3600  # log in again after a week, whatever happens
    lock_after: int = 5  # failures before the first lock
    base_lock_s: int = 30  # doubling with each further failure
    max_lock_s: int = 3600
    failure_window_s: int = 24 * 3600  # failures older than this are forgotten
    login_per_ip: int = 30  # per minute
    login_per_account: int = 10  # per minute
    refresh_per_ip: int = 120  # per minute


class AdminState:
    def __init__(
        self,
        config: EngineConfig,
        *,
        passwords: Passwords | None = None,
        policy: AuthPolicy | None = None,
    ) -> None:
        self.config = config
        self.policy = policy or AuthPolicy()
        self.ring = KeyRing.single(config.jwt_secret)
        self.passwords = passwords or Passwords()
        self.login_by_ip = SlidingWindow(self.policy.login_per_ip, 60)
        self.login_by_account = SlidingWindow(self.policy.login_per_account, 60)
        self.refresh_by_ip = SlidingWindow(self.policy.refresh_per_ip, 60)
        self.recordings = RecordingStore(Path(config.recordings_dir))
        self._http: httpx.AsyncClient | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def http(self) -> httpx.AsyncClient:
        if self._http is None:
            self._http = httpx.AsyncClient(follow_redirects=False, timeout=30.0)
        return self._http

    def running(self, name: str) -> bool:
        return any(task.get_name() == name for task in self._tasks)

    def spawn(self, name: str, work: Coroutine[Any, Any, None]) -> None:
        """Run `work` in the background, tracked; its failure is logged, never lost. A task of
        the same name already running wins (`work` is closed unstarted)."""
        if self.running(name):
            work.close()
            return
        task = asyncio.get_running_loop().create_task(work, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("admin_task_failed", task=task.get_name(), error=repr(task.exception()))

    async def drain(self, timeout: float = 30.0) -> None:
        """Wait for the background tasks running now (tests, orderly shutdown)."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=timeout)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=5)
        if self._http is not None:
            await self._http.aclose()
            self._http = None
