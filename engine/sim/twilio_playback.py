"""The simulated caller's playback buffer: Twilio's outbound audio as the caller hears it.

Pure: `Playback` buffers the agent's audio, plays 20 ms per frame tick, releases marks once
their audio has played, drops everything on `clear`, and keeps the `HeardSegment`s (contiguous
runs of agent audio) a call leaves behind. No I/O, no clock of its own: the ticks carry the time.
"""

from __future__ import annotations

import builtins
from collections import deque
from dataclasses import dataclass

from engine.audio import BYTES_PER_MS, FRAME_BYTES


@dataclass(frozen=True, slots=True)
class HeardSegment:
    """A contiguous run of agent audio the caller heard.

    `start`/`end` are seconds since the `start` message of stream number `stream_index`;
    `bytes` is the mu-law byte count (8 per ms); `audio` the bytes themselves when the caller
    records audio (empty otherwise).
    """

    start: float
    end: float
    bytes: int
    audio: builtins.bytes = b""
    stream_index: int = 0


class Playback:
    """Twilio's playback buffer for the agent's audio, as the caller hears it.

    Clocked by `tick(now)`: each tick plays the next 20 ms (160 bytes) from `now` on. A mark
    sits at the end of the audio buffered when it arrived and is returned once playback has
    passed it (at the first tick after its audio finished) or at once if nothing is buffered;
    `clear()` drops the buffer and returns every pending mark. Times are seconds on any clock.

    A *turn* is the agent audio played since the caller last finished speaking, a `clear`, or
    a completed WaitForAgent (`new_turn()`); BargeIn and WaitForAgent measure against it.
    """

    def __init__(self, *, keep_audio: bool = False, stream_index: int = 0) -> None:
        self._buf = bytearray()
        self._head = 0  # absolute position of the next byte to play
        self._tail = 0  # absolute position after the last byte buffered
        self._marks: deque[tuple[int, str]] = deque()
        self._keep_audio = keep_audio
        self._stream_index = stream_index
        self.played_total = 0
        self.turn_played = 0
        self.last_play_end: float | None = None
        self.segments: list[HeardSegment] = []
        self._seg_start: float | None = None
        self._seg_bytes = 0
        self._seg_audio = bytearray()
        self._seg_end = 0.0

    @property
    def buffered(self) -> int:
        return self._tail - self._head

    @property
    def pending_marks(self) -> list[str]:
        return [name for _, name in self._marks]

    def enqueue(self, data: bytes) -> None:
        self._buf += data
        self._tail += len(data)

    def add_mark(self, name: str) -> list[str]:
        """Queue a mark; returns `[name]` if it must be echoed now (nothing buffered)."""
        if self._tail == self._head and not self._marks:
            return [name]
        self._marks.append((self._tail, name))
        return []

    def clear(self) -> list[str]:
        """Drop everything buffered; returns the pending marks, all due now."""
        self._buf.clear()
        self._head = self._tail
        names = [name for _, name in self._marks]
        self._marks.clear()
        self._close_segment()
        self.new_turn()
        return names

    def new_turn(self) -> None:
        self.turn_played = 0

    def tick(self, now: float) -> list[str]:
        """Play the 20 ms from `now`; returns marks whose audio finished playing by `now`."""
        released: list[str] = []
        marks = self._marks
        while marks and marks[0][0] <= self._head:
            released.append(marks.popleft()[1])
        n = min(FRAME_BYTES, self._tail - self._head)
        if n == 0:
            self._close_segment()
            return released
        chunk = self._buf[:n]
        del self._buf[:n]
        self._head += n
        self.played_total += n
        self.turn_played += n
        end = now + n / (BYTES_PER_MS * 1000)
        self.last_play_end = end
        if self._seg_start is None:
            self._seg_start = now
        self._seg_bytes += n
        if self._keep_audio:
            self._seg_audio += chunk
        self._seg_end = end
        if n < FRAME_BYTES:
            self._close_segment()
        return released

    def finish(self) -> None:
        """Close the open segment (the stream ended)."""
        self._close_segment()

    def _close_segment(self) -> None:
        if self._seg_start is None:
            return
        self.segments.append(
            HeardSegment(
                start=self._seg_start,
                end=self._seg_end,
                bytes=self._seg_bytes,
                audio=bytes(self._seg_audio),
                stream_index=self._stream_index,
            )
        )
        self._seg_start = None
        self._seg_bytes = 0
        self._seg_audio = bytearray()
