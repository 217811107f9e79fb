"""The calls a tenant has admitted and not yet seen end: what its concurrent-call cap counts.
Kept by the TenantActor, in memory; pure but for the clock, which may be passed in.

A call counts from the moment its claim starts (a placeholder admission), so concurrent
admissions cannot overshoot the cap; it stops counting when the tenant actor hears it ended
(Twilio's terminal status, the call actor's release), a failed claim drops it, and a call
not heard of for STALE_CALL_S is forgotten (a lost release must not hold a place forever).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from actors.ports import Admission

STALE_CALL_S = 3 * 3600


@dataclass(slots=True)
class Held:
    admission: Admission
    since: float
    attempt: int = 0


class LiveCalls:
    def __init__(
        self, stale_s: float = STALE_CALL_S, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._stale_s = stale_s
        self._clock = clock
        self._calls: dict[str, Held] = {}

    def __len__(self) -> int:
        return len(self._calls)

    def __iter__(self) -> Iterator[str]:
        return iter(self._calls)

    def get(self, call_sid: str) -> Held | None:
        return self._calls.get(call_sid)

    def full(self, cap: int) -> bool:
        """Whether one more call would exceed `cap` (stale calls forgotten first)."""
        cutoff = self._clock() - self._stale_s
        for sid in [s for s, held in self._calls.items() if held.since < cutoff]:
            del self._calls[sid]
        return len(self._calls) >= cap

    def hold(self, call_sid: str, attempt: int) -> Held:
        """Count the call from now, while it is claimed; its admission is set once it is."""
        held = Held(Admission("unavailable", reason="claiming"), self._clock(), attempt)
        self._calls[call_sid] = held
        return held

    def drop(self, call_sid: str) -> None:
        self._calls.pop(call_sid, None)
