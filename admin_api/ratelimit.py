"""In-process sliding-window rate limits (per replica). Pure apart from the clock it is given.

Used for login and token refresh, per client IP and per account. With several Serve replicas
each keeps its own windows, so the effective limit is per replica; the per-account lockout that
matters for password guessing is in Postgres (memory.users) and shared by all replicas.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict, deque
from collections.abc import Callable


class SlidingWindow:
    """At most `limit` hits per `window_s` seconds per key; memory bounded by `max_keys`."""

    def __init__(
        self,
        limit: int,
        window_s: float,
        *,
        max_keys: int = 50_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._limit = limit
        self._window = window_s
        self._max_keys = max_keys
        self._clock = clock
        self._hits: OrderedDict[str, deque[float]] = OrderedDict()

    def hit(self, key: str) -> float | None:
        """Count one hit; None when allowed, else seconds until the next one would be."""
        now = self._clock()
        hits = self._hits.get(key)
        if hits is None:
            hits = deque()
            self._hits[key] = hits
            while len(self._hits) > self._max_keys:
                self._hits.popitem(last=False)
        else:
            self._hits.move_to_end(key)
        cutoff = now - self._window
        while hits and hits[0] <= cutoff:
            hits.popleft()
        if len(hits) >= self._limit:
            return max(1.0, math.ceil(hits[0] + self._window - now))
        hits.append(now)
        return None
