"""Draining call actors (engine stop, a rolling replacement): wait, up to a bound, for their
live calls to finish on their own, then end the rest (each records its outcome,
`engine_shutdown`, and queues its post-call work). I/O: the pool's `CallActorFactory`; the
pool says when a call's slot is given back.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence

import structlog

from actors.pool_actors import PoolActor
from actors.ports import CallActorFactory

END_CALLS_TIMEOUT_S = 10.0  # a call's outcome, turns and post-call job written, sockets closed

log = structlog.get_logger(__name__)


async def wait_for_calls(
    actors: Sequence[PoolActor], released: asyncio.Event, bound_s: float
) -> None:
    """Until no call is left on `actors` or `bound_s` has passed; `released` is set whenever a
    call's slot is given back."""
    deadline = time.monotonic() + bound_s
    while any(actor.calls for actor in actors) and time.monotonic() < deadline:
        released.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(released.wait(), deadline - time.monotonic())


async def end_calls(factory: CallActorFactory, actors: Sequence[PoolActor], bound_s: float) -> int:
    """End the calls still live on `actors`, all at once; returns how many there were."""
    busy = [actor for actor in actors if actor.calls]
    ended = sum(len(actor.calls) for actor in busy)
    if busy:
        log.warning("calls_ended_at_drain_bound", calls=ended, bound_s=bound_s)
        await asyncio.gather(*(_end(factory, actor) for actor in busy))
    return ended


async def _end(factory: CallActorFactory, actor: PoolActor) -> None:
    try:
        await factory.shutdown(actor.handle, END_CALLS_TIMEOUT_S)
    except Exception as exc:  # killed next: Twilio's <Connect action> finds no outcome
        log.error("call_actor_end_failed", error=repr(exc))
