"""Simulated Twilio caller: places inbound calls against the engine as Twilio would.

`TwilioCaller` holds what every call shares (where the engine is, the auth token that signs the
webhooks, the REST fake, what to record); `place_call` runs one call
(`engine.sim.caller_run.CallRun`) under an overall timeout and returns its
`engine.sim.caller_result.CallResult`. Webhook requests go to `webhook_base`, signatures cover
`public_base_url` (what the engine rebuilds behind its proxy); the stream socket goes to the
TwiML URL, or to `media_connect_base` + its path when given. A script's steps (`CallScript`,
`Speak`, `WaitForAgent`...) are `engine.sim.twilio_call_script`'s, importable from here too.
"""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

from twilio.request_validator import RequestValidator

from engine.sim.caller_result import CallResult
from engine.sim.caller_run import CallRun, new_sid
from engine.sim.twilio_call_records import SimCallError, SimStepTimeout, StreamRecord
from engine.sim.twilio_call_script import (
    BargeIn,
    CallScript,
    Dtmf,
    HangUp,
    Pause,
    Speak,
    Step,
    WaitForAgent,
)
from engine.sim.twilio_playback import HeardSegment
from engine.sim.twilio_rest import TwilioRestFake

__all__ = [
    "BargeIn",
    "CallScript",
    "Dtmf",
    "HangUp",
    "HeardSegment",
    "Pause",
    "SimCallError",
    "SimCallTimeout",
    "SimStepTimeout",
    "Speak",
    "Step",
    "StreamRecord",
    "TwilioCaller",
    "WaitForAgent",
]


class SimCallTimeout(SimCallError, TimeoutError):
    """place_call's overall timeout expired."""


class TwilioCaller:
    """Places simulated inbound calls; safe to use for many concurrent calls."""

    def __init__(
        self,
        *,
        webhook_base: str,
        public_base_url: str,
        auth_token: str,
        account_sid: str = "AC" + "0" * 32,
        rest: TwilioRestFake | None = None,
        record_frames: bool = False,
        record_events: bool = True,
        record_audio: bool = True,
        media_connect_base: str | None = None,
        step_timeout: float = 30.0,
        stop_on_rest_hangup: bool = True,
        voice_path: str = "/twilio/voice",
        status_path: str = "/twilio/status",
        stream_connect_delay_s: float = 0.0,
    ) -> None:
        """`stream_connect_delay_s`: how long after the TwiML the media socket opens (Twilio
        takes a few hundred ms on a real call; 0 connects at once)."""
        if stream_connect_delay_s < 0:
            raise ValueError("stream_connect_delay_s must be >= 0")
        self.stream_connect_delay_s = stream_connect_delay_s
        self.webhook_base = webhook_base.rstrip("/")
        self.public_base_url = public_base_url.rstrip("/")
        self.account_sid = account_sid
        self.rest = rest
        self.record_frames = record_frames
        self.record_events = record_events
        self.record_audio = record_audio
        self.media_connect_base = media_connect_base.rstrip("/") if media_connect_base else None
        self.step_timeout = step_timeout
        self.stop_on_rest_hangup = stop_on_rest_hangup
        self.voice_path = voice_path
        self.status_path = status_path
        self._validator = RequestValidator(auth_token)

    def sign(self, url: str, params: dict[str, str]) -> str:
        return str(self._validator.compute_signature(url, params))

    def transport_url(self, url: str) -> str:
        """Where a request for public `url` is actually sent."""
        if url.startswith(self.public_base_url):
            return self.webhook_base + url[len(self.public_base_url) :]
        return url

    def stream_connect_url(self, url: str) -> str:
        if self.media_connect_base is None:
            return url
        parts = urlsplit(url)
        return self.media_connect_base + parts.path + (f"?{parts.query}" if parts.query else "")

    async def place_call(
        self, script: CallScript, *, call_sid: str | None = None, timeout: float = 60.0
    ) -> CallResult:
        """Run one call to its end; raises SimCallTimeout / SimStepTimeout with `.result`."""
        run = CallRun(self, script, call_sid or new_sid("CA"))
        scope = asyncio.timeout(timeout)
        try:
            async with scope:
                return await run.run()
        except TimeoutError as exc:
            if not scope.expired():
                raise
            raise SimCallTimeout(
                f"call {run.result.call_sid} did not end within {timeout} s "
                f"(script step {run.cursor.index} of {len(script.steps)})",
                run.result,
            ) from exc
        finally:
            if self.rest is not None:
                self.rest.call_ended(run.result.call_sid, duration_s=run.result.duration_s)
