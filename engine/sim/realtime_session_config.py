"""The effective configuration of one simulated Realtime session.

Pure state, no I/O: the GA defaults (`engine.sim.realtime_session_rules.default_session`),
updated by each `session.update` under the protocol's rules, and the voice lock (a session's
voice cannot change once the model has spoken audio in it).
"""

from __future__ import annotations

import copy
from typing import Any

from engine.sim.realtime_session_rules import apply_session_update, default_session


class SessionConfig:
    """What `session.created`/`session.updated` report, and what every other part reads."""

    __slots__ = ("current", "voice_locked")

    def __init__(self, session_id: str, model: str) -> None:
        self.current: dict[str, Any] = default_session(session_id, model)
        self.voice_locked = False

    def update(self, raw: Any) -> None:
        """Apply a client `session.update` payload (raises `RequestError` when it is invalid)."""
        self.current = apply_session_update(self.current, raw, voice_locked=self.voice_locked)

    def snapshot(self) -> dict[str, Any]:
        return copy.deepcopy(self.current)

    @property
    def audio_input(self) -> dict[str, Any]:
        value: dict[str, Any] = self.current["audio"]["input"]
        return value

    @property
    def audio_output(self) -> dict[str, Any]:
        value: dict[str, Any] = self.current["audio"]["output"]
        return value

    @property
    def turn_detection(self) -> dict[str, Any] | None:
        value: dict[str, Any] | None = self.audio_input["turn_detection"]
        return value
