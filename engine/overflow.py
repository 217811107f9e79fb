"""What a caller gets when the node has no room for their call (engine.node_capacity): the
tenant's overflow choice. Pure.

- "message": the polite busy message, then the call ends;
- "transfer": put through to the agent's fallback number (the message when it has none);
- "queue": Twilio's `<Enqueue>` - the caller holds in the tenant's queue, hearing the hold
  message, until a call slot frees (the tenant actor dequeues them onto a new call, see
  actors.call_queue) or `queue_max_wait_s` passes (then the polite message).

Unset (the stored `{}`), the choice is "transfer" when the agent has a fallback number, else
"message": what the engine did before the choice existed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

OverflowChoice = Literal["message", "transfer", "queue"]
CHOICES: tuple[OverflowChoice, ...] = ("message", "transfer", "queue")
QUEUE_WAIT_MIN_S = 15
QUEUE_WAIT_MAX_S = 1800
QUEUE_WAIT_DEFAULT_S = 120
QUEUE_PREFIX = "overflow-"  # + the tenant's id: the tenant's Twilio queue (64 characters at most)


@dataclass(frozen=True, slots=True)
class Overflow:
    choice: OverflowChoice | None = None
    queue_max_wait_s: int = QUEUE_WAIT_DEFAULT_S

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> Overflow:
        """From the stored form (the admin API's, validated); {} is the defaults."""
        choice = value.get("choice")
        wait = value.get("queue_max_wait_s")
        in_range = isinstance(wait, int) and QUEUE_WAIT_MIN_S <= wait <= QUEUE_WAIT_MAX_S
        return cls(
            choice if choice in CHOICES else None,
            wait if in_range and isinstance(wait, int) else QUEUE_WAIT_DEFAULT_S,
        )

    def to_json(self) -> dict[str, Any]:
        return {"choice": self.choice, "queue_max_wait_s": self.queue_max_wait_s}

    def action(self, fallback_number: str | None) -> OverflowChoice:
        """What happens to an overflowing call now (a transfer needs a number)."""
        if self.choice == "queue":
            return "queue"
        if self.choice == "message" or not fallback_number:
            return "message"
        return "transfer"


def queue_name(tenant_id: str) -> str:
    """The tenant's Twilio queue (`<Enqueue>` creates it on first use)."""
    return QUEUE_PREFIX + tenant_id


def wait_left_s(since: float, max_wait_s: int, now: float) -> float:
    """Seconds a caller who entered the queue at `since` (epoch seconds) may still hold."""
    return max(0.0, since + max_wait_s - now)
