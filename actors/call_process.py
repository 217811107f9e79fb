"""What a call actor's process starts with (its Ray `runtime_env`): only what calls use, so its
calls fit the USS budget (< 64 MiB a call actor; the figures below were taken with 25 calls an
actor, the default then).

- Ray registers serializers for pydantic's v1 `ModelField`, starlette's `State` and Arrow in
  every worker it starts (`ray.util.serialization_addons.apply`), and so imports pydantic (with
  its v1 compatibility layer) and starlette: about 6 MiB of USS. Nothing a call actor sends or
  receives is one of those types (they are plain dataclasses), so its process skips them; an
  object that did need pydantic would still import it on its own when unpickled.
- structlog loads rich (and pygments) whenever they are installed: a dev-only dependency,
  absent from the image, about 3.9 MiB. A call actor's process keeps them out, so what is
  measured in a dev checkout is what runs in production (tracebacks are printed plainly).
- httpx (the agency tools' client) loads click for its command-line tool whenever click is
  installed, and Ray's own command line needs it: 1.2 MiB of a call actor's 52 that no call
  uses (a started call actor with no calls: 52.1 MiB with it, 50.8-51.0 without).

- glibc's malloc gives the process's threads up to 16 arenas on two cores (8 per core), and a
  call actor has some 30 threads (Ray's and gRPC's, libuv's resolver pool, the event loop's):
  a thread that frees a burst of small blocks leaves them in its own arena's free lists, where
  nothing else reuses them (about 1 MiB an arena with 25 calls live, by `malloc_info`; which
  threads make the bursts was not pinned down). Over a few minutes of
  calls, arena after arena held such a burst: an actor with the same 25 calls live grew from
  62 to 75 MiB USS (not retained objects: `malloc_trim` gave 6.6 MiB of it back at once).
  `MALLOC_ARENA_MAX` 4 (`ARENA_MAX`) keeps the bursts in four arenas, reused: 25 calls held
  for 3 minutes stay at 60.6-63.4 MiB (75 without it), a fresh actor's 25 calls 61.2-61.4
  (62.1-62.3), CPU per call-second 4.0-4.7 ms against 4.8-5.1 (two bench runs each). An arena
  limit of 2 held 62.4 MiB but cost CPU (5.2-5.6 ms per call-second): the event loop shared
  its arena's lock with every other thread.
"""

from __future__ import annotations

import sys
from typing import Any

from ray._private import ray_constants

# modules a call actor's process never loads: its libraries import them only when present
KEPT_OUT = ("rich", "pygments", "click")
ARENA_MAX = 4  # glibc malloc arenas a call actor's threads share (see above)


def runtime_env() -> dict[str, Any]:
    """A call actor's `runtime_env`. Ray takes `worker_process_setup_hook` only for a whole job,
    so the hook is named here the way Ray hands a job's hook to its workers: in the environment
    variable its worker start-up reads (it runs the hook before the actor is built). glibc
    reads `MALLOC_ARENA_MAX` when the process starts: Ray starts the worker with it."""
    hook = ray_constants.WORKER_PROCESS_SETUP_HOOK_ENV_VAR
    return {"env_vars": {hook: f"{__name__}.lean_process", "MALLOC_ARENA_MAX": str(ARENA_MAX)}}


def lean_process() -> None:
    """Ray runs this in a new call actor process before the actor is built."""
    from ray.util import serialization_addons

    serialization_addons.apply = _no_addons
    for name in KEPT_OUT:
        sys.modules.setdefault(name, None)  # type: ignore[arg-type]  # import raises ImportError


def _no_addons(_context: Any) -> None:
    """Register none of Ray's serializers for pydantic, starlette and Arrow types."""
