"""One aiohttp application served on 127.0.0.1, for the simulators and the tests' small servers.

I/O: `LoopbackServer` binds a TCP listener on 127.0.0.1 (port 0 by default: the OS picks one),
serves the application until stopped, and says where it listens (`base_url`). Use it as an
async context manager, or call `start()` and `stop()` from an owner's own lifecycle.
"""

from __future__ import annotations

from aiohttp import web


class LoopbackServer:
    """An aiohttp application on 127.0.0.1:`port`; `base_url` is `http://127.0.0.1:<port>`
    once started. `stop()` closes the listener and the open connections; it is idempotent."""

    def __init__(self, app: web.Application, *, port: int = 0) -> None:
        self._app = app
        self._port = port
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    async def start(self) -> str:
        """Listen; returns the base URL."""
        runner = web.AppRunner(self._app, access_log=None)
        await runner.setup()
        try:
            await web.TCPSite(runner, "127.0.0.1", self._port).start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        host, port = runner.addresses[0][:2]
        self.base_url = f"http://{host}:{port}"
        return self.base_url

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def __aenter__(self) -> LoopbackServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
