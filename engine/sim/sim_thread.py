"""A simulator on its own event loop in a daemon thread, for the driver process (the offline
engine, benchmarks).

I/O: one thread running one simulator - anything with async `start(host, port)` and `stop()`
and a `base_url` - from `start()` until `stop()`.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Generic, Protocol, TypeVar


class Simulator(Protocol):
    @property
    def base_url(self) -> str: ...

    async def start(self, host: str = ..., port: int = ...) -> None: ...

    async def stop(self) -> None: ...


S = TypeVar("S", bound=Simulator)


class SimulatorThread(Generic[S]):
    """The simulator `factory` makes, served from a daemon thread named `name`."""

    def __init__(self, factory: Callable[[], S], *, name: str) -> None:
        self._factory, self._name = factory, name
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._sim: S | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    @property
    def sim(self) -> S:
        """The running simulator (read it from the thread's loop only, or once it is idle)."""
        if self._sim is None:
            raise RuntimeError(f"{self._name} is not running")
        return self._sim

    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Start and return the simulator's base_url."""
        self._where = (host, port)
        self._thread.start()
        if not self._ready.wait(15) or self._sim is None:
            raise RuntimeError(f"{self._name} did not start: {self._error!r}")
        return self._sim.base_url

    def _run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        sim = self._factory()
        try:
            await sim.start(*self._where)
        except BaseException as exc:
            self._error = exc
            self._ready.set()
            raise
        self._sim = sim
        self._ready.set()
        await self._stop.wait()
        await sim.stop()

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
            self._thread.join(10)
