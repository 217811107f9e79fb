"""How fast a caller's audio may arrive: a token bucket over media frames. Pure, no I/O.

Twilio sends one 20 ms mu-law frame per 20 ms of call (50 a second). After a network stall it
delivers what it held back at once, so the bucket allows a burst (`slack_s` of audio) on top of
real time; a stream that goes beyond that is not a phone call but a flood (every frame of it is
audio the model is billed for), and the call ends. No allocation per frame.
"""

from __future__ import annotations

FRAMES_PER_S = 50.0  # 20 ms frames
SLACK_S = 5.0


class FrameBudget:
    __slots__ = ("_burst", "_last", "_rate", "_tokens")

    def __init__(self, now: float, *, rate: float = FRAMES_PER_S, slack_s: float = SLACK_S) -> None:
        self._rate = rate
        self._burst = rate * slack_s
        self._tokens = self._burst
        self._last = now

    def take(self, now: float) -> bool:
        """Spend one frame at `now` (monotonic seconds); False when the stream is ahead of real
        time by more than the slack."""
        tokens = self._tokens + (now - self._last) * self._rate
        if tokens > self._burst:
            tokens = self._burst
        self._last = now
        if tokens < 1.0:
            self._tokens = tokens
            return False
        self._tokens = tokens - 1.0
        return True
