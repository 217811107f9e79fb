"""What a simulated Realtime session reads from its server (`RealtimeSimulator`).

A Protocol only, so the session and its parts name the server without importing it: the
output pacing, whether audio events are recorded, and the script matching a session.
"""

from __future__ import annotations

from typing import Protocol

from engine.sim.realtime_script import Script


class SimulatorSettings(Protocol):
    """Read at use, so a test may change pacing on a running simulator."""

    chunk_ms: int
    pace: float
    first_audio_delay_ms: int
    record_audio_events: bool

    def script_for(self, instructions: str) -> Script: ...
