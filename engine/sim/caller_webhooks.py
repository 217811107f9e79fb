"""The signed webhooks one simulated inbound call sends the engine, as Twilio sends them.

I/O: HTTP POSTs over the call's aiohttp session, each signed with `X-Twilio-Signature` over the
public URL and sent to where that URL is served (`WebhookCaller.transport_url`): TwiML fetches
(`post`, Twilio's 15 s budget) and status callbacks (`post_status`: stream and recording events,
the call's end). A failure is recorded as the Twilio debugger error it would be, never raised.
"""

from __future__ import annotations

import io
import wave
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Protocol
from urllib.parse import urljoin, urlsplit

import aiohttp

from engine.sim.caller_result import CallResult
from engine.sim.twilio_call_records import StreamRecord
from engine.sim.twilio_call_script import CallScript
from engine.sim.twilio_rest import TwilioRestFake
from engine.sim.twiml_verbs import TwimlRecording, TwimlStream

HTTP_TIMEOUT = aiohttp.ClientTimeout(total=15)  # Twilio's webhook budget
SIDE_TIMEOUT = aiohttp.ClientTimeout(total=5)


class WebhookCaller(Protocol):
    """What the webhooks need of the caller placing the call (a `TwilioCaller`)."""

    account_sid: str
    public_base_url: str
    voice_path: str
    rest: TwilioRestFake | None

    def sign(self, url: str, params: dict[str, str]) -> str: ...

    def transport_url(self, url: str) -> str: ...


class CallWebhooks:
    """One call's webhook client; `http` is set while the call runs."""

    def __init__(self, caller: WebhookCaller, script: CallScript, result: CallResult) -> None:
        self.caller = caller
        self.script = script
        self.result = result
        self.http: aiohttp.ClientSession | None = None
        self.last_status: int | None = None  # of the last TwiML fetch

    def params(self, status: str) -> dict[str, str]:
        """The parameters Twilio sends with every webhook of this call."""
        s = self.script
        return {
            "AccountSid": self.caller.account_sid,
            "ApiVersion": "2010-04-01",
            "CallSid": self.result.call_sid,
            "CallStatus": status,
            "Called": s.to_number,
            "Caller": s.from_number,
            "Direction": "inbound",
            "From": s.from_number,
            "To": s.to_number,
            "FromCity": "SPRINGFIELD",
            "FromState": "IL",
            "FromCountry": "US",
            "ToCountry": "US",
        }

    def absolute(self, url: str) -> str:
        """A TwiML URL resolved as Twilio does: against the voice webhook's public URL."""
        return urljoin(self.caller.public_base_url + self.caller.voice_path, url)

    async def post(self, url: str, params: dict[str, str]) -> str | None:
        """POST a signed webhook and return the TwiML; failures are Twilio errors, not raised."""
        assert self.http is not None
        path = urlsplit(url).path
        headers = {"X-Twilio-Signature": self.caller.sign(url, params)}
        try:
            async with self.http.post(
                self.caller.transport_url(url), data=params, headers=headers, timeout=HTTP_TIMEOUT
            ) as resp:
                body = await resp.text()
                self.last_status = resp.status
                if resp.status != 200:
                    self.result.violations.append(f"11200 POST {path} returned HTTP {resp.status}")
                    return None
                if resp.content_type not in ("text/xml", "application/xml"):
                    self.result.violations.append(f"12300 POST {path}: {resp.content_type}")
                return body
        except (aiohttp.ClientError, TimeoutError) as exc:
            self.result.violations.append(f"11205 POST {path} failed: {exc!r}")
            return None

    async def post_status(self, url: str, params: dict[str, str]) -> int | None:
        """POST a signed status callback; its HTTP status, or None when it failed."""
        assert self.http is not None
        headers = {"X-Twilio-Signature": self.caller.sign(url, params)}
        try:
            async with self.http.post(
                self.caller.transport_url(url), data=params, headers=headers, timeout=SIDE_TIMEOUT
            ) as resp:
                await resp.read()
                if resp.status >= 300:
                    path = urlsplit(url).path
                    self.result.violations.append(f"11200 POST {path} returned {resp.status}")
                return resp.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            self.result.violations.append(f"11205 POST {url} failed: {exc!r}")
            return None

    async def stream_callback(self, stream: TwimlStream, rec: StreamRecord, event: str) -> None:
        """The `<Stream statusCallback>` for one stream event (started, stopped, error)."""
        assert stream.status_callback is not None
        params = {
            "AccountSid": self.caller.account_sid,
            "CallSid": self.result.call_sid,
            "StreamSid": rec.stream_sid,
            "StreamName": stream.name or rec.stream_sid,
            "StreamEvent": event,
            "Timestamp": datetime.now(UTC).isoformat(),
        }
        if event == "stream-error":
            params["StreamError"] = "WebSocket handshake failed"
        status = await self.post_status(self.absolute(stream.status_callback), params)
        rec.status_callbacks.append((event, status))

    async def recording_callback(self, verb: TwimlRecording, status: str) -> None:
        """The `<Recording recordingStatusCallback>` for `status`, if the verb asked for it; a
        completed recording is stored in the REST fake first."""
        attrs = verb.attributes
        url = attrs.get("recordingStatusCallback")
        events = attrs.get("recordingStatusCallbackEvent", "completed").split()
        if not url or status not in events:
            return
        caller, result = self.caller, self.result
        rec_sid = "RE" + result.call_sid[2:]
        channels = 2 if attrs.get("channels") == "dual" else 1
        base = caller.rest.base_url if caller.rest is not None else "https://api.twilio.com"
        params = {
            "AccountSid": caller.account_sid,
            "CallSid": result.call_sid,
            "RecordingSid": rec_sid,
            "RecordingUrl": f"{base}/2010-04-01/Accounts/{caller.account_sid}/Recordings/{rec_sid}",
            "RecordingStatus": status,
            "RecordingChannels": str(channels),
            "RecordingSource": "StartCallRecording",
            "RecordingTrack": attrs.get("recordingTrack", "both"),
            "RecordingStartTime": format_datetime(datetime.now(UTC)),
        }
        if status == "completed":
            params["RecordingDuration"] = str(round(result.duration_s))
            params["ErrorCode"] = "0"
            if caller.rest is not None:
                caller.rest.add_recording(caller.account_sid, rec_sid, _placeholder_wav(channels))
        code = await self.post_status(self.absolute(url), params)
        result.recording_callbacks.append((status, code))


def _placeholder_wav(channels: int) -> bytes:
    """One second of 8 kHz 16-bit silence: the fake has no mixed call audio to offer."""
    buf = io.BytesIO()
    with wave.open(buf, "wb") as wav:
        wav.setnchannels(channels)
        wav.setsampwidth(2)
        wav.setframerate(8000)
        wav.writeframes(bytes(8000 * 2 * channels))
    return buf.getvalue()
