"""Errors that say whether trying again may help, and the one rule for which HTTP statuses of a
provider (Twilio, OpenAI, ElevenLabs) are worth retrying. Pure, no I/O.

The rule (STYLE.md): a provider's 4xx is final - the request itself is wrong and will be wrong
again - except 408 (the provider timed out) and 429 (rate limited); every other status (5xx
above all) is worth retrying. A caller that knows better for one provider names its exception
where it calls `status_retryable`, with the reason, and tests it.
"""

from __future__ import annotations

from collections.abc import Collection

RETRYABLE_4XX = frozenset({408, 429})


class RetryableError(Exception):
    """A failure that carries `retryable`: True when the same request may succeed later."""

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


def status_retryable(status: int, *, also: Collection[int] = ()) -> bool:
    """Whether a provider's HTTP `status` is worth retrying: anything but a 4xx, and 408, 429
    and the caller's deliberate exceptions `also`."""
    return not 400 <= status < 500 or status in RETRYABLE_4XX or status in also
