"""The line protocol between the bench driver and its helper processes (I/O: pipes, processes).

Each load-side role (callers, realtime simulator, baseline relay) runs as its own asyncio
process so that none of them shares a GIL with another or with the engine. The driver talks to
them over stdin/stdout: one JSON command per line in, one JSON reply per line out, prefixed with
`@bench ` so that stray output of a library cannot be mistaken for a reply. Bulk data (frame
records) goes through pickle files in the run's private temporary directory, never the pipe.

Child side: `serve_commands(handler)`. Driver side: `Child`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import queue
import subprocess
import sys
import threading
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import IO, Any

PREFIX = "@bench "
ROOT = Path(__file__).resolve().parent.parent


class ChildError(RuntimeError):
    """A helper process failed, answered with an error, or did not answer in time."""


def reply(obj: Mapping[str, Any]) -> None:
    """Write one reply line to the driver (child side)."""
    sys.stdout.write(PREFIX + json.dumps(obj) + "\n")
    sys.stdout.flush()


def quiet_logs() -> None:
    """Send structlog output of engine modules to stderr, warnings and up only: stdout is the
    reply channel."""
    import logging

    import structlog

    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.dev.ConsoleRenderer(colors=False),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
    )


def install_uvloop() -> str:
    """Use uvloop when it is installed (cheaper timers and sockets); returns the loop's name."""
    try:
        import uvloop
    except ImportError:
        return "asyncio"
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    return "uvloop"


async def serve_commands(handler: Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]) -> None:
    """Answer commands from stdin until `{"op": "quit"}` or end of input (child side)."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=1 << 20)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while True:
        line = await reader.readline()
        if not line:
            return
        try:
            command = json.loads(line)
        except ValueError:
            reply({"ok": False, "error": "not JSON"})
            continue
        try:
            answer = await handler(command)
        except Exception as exc:
            answer = {"ok": False, "error": repr(exc)}
        reply(answer)
        if command.get("op") == "quit":
            return


class Child:
    """A helper process started with `python -m <module> <args>` (driver side)."""

    def __init__(
        self, name: str, module: str, args: list[str], log_path: Path, env: Mapping[str, str]
    ) -> None:
        self.name = name
        self.log_path = log_path
        child_env = dict(env)
        child_env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(ROOT), child_env.get("PYTHONPATH", "")) if p
        )
        self._log: IO[bytes] = log_path.open("wb")
        self.proc = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", module, *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            cwd=ROOT,
            env=child_env,
            text=True,
        )
        self.pid = self.proc.pid
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, name=f"{name}-stdout", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.startswith(PREFIX):
                self._lines.put(line[len(PREFIX) :])
        self._lines.put(None)

    def read(self, timeout: float) -> dict[str, Any]:
        """The next reply; ChildError when the process died or stayed silent for `timeout`."""
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            raise ChildError(f"{self.name}: no answer within {timeout:.0f} s") from None
        if line is None:
            self._lines.put(None)
            raise ChildError(f"{self.name} exited ({self.proc.poll()}); see {self.log_path}")
        answer: dict[str, Any] = json.loads(line)
        if answer.get("ok") is False:
            raise ChildError(f"{self.name}: {answer.get('error')}")
        return answer

    def request(self, command: Mapping[str, Any], timeout: float) -> dict[str, Any]:
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(json.dumps(command) + "\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError) as exc:
            raise ChildError(f"{self.name} is gone: {exc!r}; see {self.log_path}") from None
        return self.read(timeout)

    def stop(self, timeout: float = 15.0, *, ask: bool = True) -> None:
        """Ask the process to quit (unless `ask` is false); terminate, then kill it if it does
        not go."""
        if ask and self.proc.poll() is None:
            with contextlib.suppress(ChildError):
                self.request({"op": "quit"}, timeout)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self.proc.stdin is not None:
            with contextlib.suppress(OSError):
                self.proc.stdin.close()
        self._log.close()
