"""A simulated caller's HTTP side: Twilio's signed webhooks for one call.

`WebhookClient` is shared by all the calls of a load generator (one aiohttp session, the
request validator that signs, the public -> transport URL mapping); `CallWebhooks` is one call's:
the voice webhook that answers with TwiML, the stream status and call status callbacks.

I/O: signed HTTP POSTs to the target (webhook base URL, 127.0.0.1 in the benchmarks).
"""

from __future__ import annotations

import secrets
import time
from datetime import UTC, datetime

import aiohttp
from twilio.request_validator import RequestValidator

from bench.load_spec import TargetSpec
from bench.records import StreamRecord
from engine.sim.twiml_verbs import TwimlConnect, TwimlError, TwimlSay, parse_twiml
from engine.task_set import TaskSet

HTTP_TIMEOUT = aiohttp.ClientTimeout(total=15)  # Twilio's webhook budget


class WebhookClient:
    """Signs and POSTs webhooks to one target; one HTTP session for all calls."""

    def __init__(self, target: TargetSpec) -> None:
        self.target = target
        self.validator = RequestValidator(target.auth_token)
        self._http: aiohttp.ClientSession | None = None

    @property
    def http(self) -> aiohttp.ClientSession:
        if self._http is None:
            self._http = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=256), timeout=HTTP_TIMEOUT
            )
        return self._http

    def transport_url(self, public_url: str) -> str:
        base = self.target.public_base_url.rstrip("/")
        if public_url.startswith(base):
            return self.target.webhook_base.rstrip("/") + public_url[len(base) :]
        return public_url

    def signature(self, public_url: str, params: dict[str, str]) -> str:
        signature: str = self.validator.compute_signature(public_url, params)
        return signature

    async def post(self, public_url: str, params: dict[str, str]) -> tuple[int, str]:
        """POST `params` signed for `public_url`; returns the status and the body."""
        headers = {"X-Twilio-Signature": self.signature(public_url, params)}
        url = self.transport_url(public_url)
        async with self.http.post(url, data=params, headers=headers, timeout=HTTP_TIMEOUT) as r:
            return r.status, await r.text()

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()


class CallWebhooks:
    """One call's webhooks; results go to its `StreamRecord`. Callbacks run as side tasks,
    waited for by `finish()`."""

    def __init__(
        self,
        client: WebhookClient,
        rec: StreamRecord,
        from_number: str,
        to_number: str,
        stream_sid: str,
    ) -> None:
        self.client = client
        self.rec = rec
        self.from_number = from_number
        self.to_number = to_number
        self.stream_sid = stream_sid
        self.side_tasks = TaskSet("caller_callback")

    def params(self, status: str) -> dict[str, str]:
        return {
            "AccountSid": self.client.target.account_sid,
            "ApiVersion": "2010-04-01",
            "CallSid": self.rec.call_sid,
            "CallStatus": status,
            "Called": self.to_number,
            "Caller": self.from_number,
            "Direction": "inbound",
            "From": self.from_number,
            "To": self.to_number,
            "FromCity": "SPRINGFIELD",
            "FromState": "IL",
            "FromCountry": "US",
            "ToCountry": "US",
        }

    def callback(self, public_url: str, params: dict[str, str]) -> None:
        async def send() -> None:
            try:
                status, _ = await self.client.post(public_url, params)
                if status >= 300:
                    self.rec.callbacks_failed += 1
            except (aiohttp.ClientError, TimeoutError):
                self.rec.callbacks_failed += 1

        self.side_tasks.spawn(send())

    def stream_callback(self, url: str, event: str) -> None:
        self.callback(
            url,
            {
                "AccountSid": self.client.target.account_sid,
                "CallSid": self.rec.call_sid,
                "StreamSid": self.stream_sid,
                "StreamName": self.stream_sid,
                "StreamEvent": event,
                "Timestamp": datetime.now(UTC).isoformat(),
            },
        )

    async def answer(self) -> TwimlConnect | None:
        """The voice webhook: the `<Connect>` verb with a `<Stream>` of the TwiML answered, or
        None with the call's outcome set (failed or refused)."""
        rec, target = self.rec, self.client.target
        params = self.params("ringing")
        params["CallToken"] = secrets.token_urlsafe(48)
        began = time.perf_counter()
        try:
            status, body = await self.client.post(
                target.public_base_url + target.voice_path, params
            )
        except (aiohttp.ClientError, TimeoutError) as exc:
            rec.outcome, rec.error = "failed", f"webhook: {exc!r}"
            return None
        rec.webhook_ms = (time.perf_counter() - began) * 1000
        rec.webhook_status = status
        if status != 200:
            rec.outcome, rec.error = "failed", f"webhook HTTP {status}"
            return None
        try:
            verbs = parse_twiml(body)
        except TwimlError as exc:
            rec.outcome, rec.error = "failed", f"TwiML: {exc}"
            return None
        for verb in verbs:
            if isinstance(verb, TwimlConnect) and verb.stream is not None:
                return verb
        says = " ".join(v.text for v in verbs if isinstance(v, TwimlSay))
        rec.outcome, rec.error = "refused", says[:200] or "no <Connect><Stream>"
        return None

    async def finish(self) -> None:
        """The call status callback of an answered call, then every callback's end (10 s)."""
        rec, target = self.rec, self.client.target
        if target.status_path is not None and rec.webhook_status == 200:
            params = self.params("completed")
            started = rec.started_at or rec.placed_at
            params["CallDuration"] = str(round(time.monotonic() - started))
            params["SequenceNumber"] = "0"
            self.callback(target.public_base_url + target.status_path, params)
        await self.side_tasks.wait(10)
