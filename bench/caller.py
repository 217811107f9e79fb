"""One simulated Twilio call for load: webhook, media stream, conversation; every frame recorded.

Unlike `engine.sim.twilio_caller.TwilioCaller` (one scripted call, every event kept), this
caller is built for hundreds of concurrent calls in one process and for measurement: every 20 ms
frame it sends carries a tag (`bench.tags`), its send time is recorded just after the socket
write, and every agent frame it receives is recorded with its arrival time. What it says is
`bench.caller_conversation`'s; its webhooks are `bench.caller_webhooks`'. The stream's
messages and its 20 ms frame schedule are the engine's simulated caller's own
(`engine.sim.twilio_stream_messages`, `engine.sim.frame_clock`).

I/O: one WebSocket client to the `<Stream url>` of the TwiML it was answered with (picows'
`websockets`-compatible client: compiled framing, so what the load side burns, the engine does
not lose on a shared machine), and the call's webhooks.
"""

from __future__ import annotations

import asyncio
import binascii
import contextlib
import json
import random
import secrets
import time

import aiohttp
from picows.websockets import ClientConnection, ConnectionClosed, WebSocketException, connect

from bench.caller_conversation import Conversation
from bench.caller_webhooks import CallWebhooks, WebhookClient
from bench.load_spec import Behaviour
from bench.records import StreamRecord
from bench.tags import MAX_STREAM, frame_key, stamp
from engine.sim.frame_clock import until_frame
from engine.sim.twilio_stream_messages import (
    connected_message,
    mark_message,
    media_message,
    start_message,
    stop_message,
)
from engine.sim.twiml_verbs import TwimlConnect

HANGUP_CLOSE_S = 3.0  # how long a hung-up caller waits for the server to close the socket
CONNECTED = connected_message()


class SimulatedCall:
    """One call: webhook, media stream, conversation. Owns its socket and its tasks."""

    def __init__(
        self,
        client: WebhookClient,
        behaviour: Behaviour,
        utterances: tuple[tuple[str, ...], ...],
        barge_utterance: tuple[str, ...],
        seed: int,
        index: int,
        to_number: str,
    ) -> None:
        self.client = client
        self.rec = StreamRecord(
            index=index, call_sid="CA" + secrets.token_hex(16), placed_at=time.monotonic()
        )
        self.settled = asyncio.Event()  # live, refused or failed
        self.hangup = asyncio.Event()
        self.stream_sid = "MZ" + secrets.token_hex(16)
        self.webhooks = CallWebhooks(
            client, self.rec, f"+1555{2000000 + index:07d}", to_number, self.stream_sid
        )
        self.conv = Conversation(
            behaviour,
            random.Random(seed * 100_003 + index),
            utterances,
            barge_utterance,
            self.rec,
        )
        self.seq = 0
        self.task: asyncio.Task[None] | None = None  # run(), once placed

    @property
    def active(self) -> bool:
        return self.rec.outcome in ("placed", "live")

    async def run(self) -> None:
        rec = self.rec
        try:
            connect_verb = await self.webhooks.answer()
            if connect_verb is not None:
                await self._stream(connect_verb)
                if rec.outcome == "live":
                    rec.outcome = "ended" if rec.closed_by == "caller" else "dropped"
        except Exception as exc:
            rec.outcome = "failed"
            rec.error = rec.error or repr(exc)
        finally:
            self.settled.set()
            await self.webhooks.finish()

    async def _stream(self, verb: TwimlConnect) -> None:
        rec = self.rec
        stream = verb.stream
        assert stream is not None
        signature = self.client.signature(stream.url, {})
        try:
            ws = await connect(
                stream.url,
                additional_headers={"X-Twilio-Signature": signature},
                user_agent_header="Twilio.TmeWs/1.0",
                compression=None,
                proxy=None,
                open_timeout=10,
                ping_interval=None,
                close_timeout=2,
                max_size=1 << 22,
            )
        except (OSError, TimeoutError, WebSocketException) as exc:
            rec.outcome, rec.error = "failed", f"stream handshake: {exc!r}"
            return
        rec.connected_at = time.monotonic()
        start = start_message(
            self._next_seq(),
            self.stream_sid,
            account_sid=self.client.target.account_sid,
            call_sid=rec.call_sid,
            custom_parameters=dict(stream.parameters),
        )
        try:
            await ws.send(CONNECTED)
            rec.started_at = time.monotonic()
            await ws.send(start)
        except ConnectionClosed:
            rec.outcome, rec.error = "failed", "stream closed before start"
            return
        rec.outcome = "live"
        self.settled.set()
        if stream.status_callback:
            self.webhooks.stream_callback(stream.status_callback, "stream-started")
        try:
            async with asyncio.TaskGroup() as tg:
                reader = tg.create_task(self._read(ws))
                pump = tg.create_task(self._pump(ws))
                talk = tg.create_task(self.conv.run())
                hangup = tg.create_task(self.hangup.wait())
                await asyncio.wait({reader, hangup}, return_when=asyncio.FIRST_COMPLETED)
                pump.cancel()
                talk.cancel()
                if self.hangup.is_set() and not reader.done():
                    rec.closed_by = "caller"
                    await self._send_stop(ws)
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(asyncio.shield(reader), HANGUP_CLOSE_S)
                else:
                    rec.closed_by = "server"
                    rec.error = rec.error or f"server closed the stream ({ws.close_code})"
                hangup.cancel()
                reader.cancel()
        finally:
            await ws.close()
            rec.closed_at = time.monotonic()
        if stream.status_callback:
            self.webhooks.stream_callback(stream.status_callback, "stream-stopped")
        if rec.closed_by == "server" and verb.action:
            with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                await self.client.post(verb.action, self.webhooks.params("in-progress"))

    def _next_seq(self) -> str:
        self.seq += 1
        return str(self.seq)

    async def _send_stop(self, ws: ClientConnection) -> None:
        msg = stop_message(
            self._next_seq(),
            self.stream_sid,
            account_sid=self.client.target.account_sid,
            call_sid=self.rec.call_sid,
        )
        with contextlib.suppress(ConnectionClosed, TimeoutError):
            async with asyncio.timeout(2.0):
                await ws.send(msg)
                self.rec.stop_at = time.monotonic()

    async def _send_mark(self, ws: ClientConnection, name: str) -> None:
        await ws.send(mark_message(self._next_seq(), self.stream_sid, name))
        self.rec.marks_echoed += 1

    # --- outbound: one frame every 20 ms on a fixed schedule -----------------------------------

    async def _pump(self, ws: ClientConnection) -> None:
        rec, pb, conv = self.rec, self.conv.pb, self.conv
        sid, stream_no = self.stream_sid, rec.index & MAX_STREAM
        sent_keys, sent_times = rec.sent_keys, rec.sent_times
        mono = time.monotonic
        t0 = rec.started_at
        assert t0 is not None
        n = 0
        try:
            while True:
                n += 1
                rel = await until_frame(t0, n)
                for name in pb.tick(rel):
                    await self._send_mark(ws, name)
                payload = stamp(conv.next_payload(rel), stream_no, n)
                await ws.send(media_message(self._next_seq(), sid, n, payload))
                sent_times.append(mono())
                sent_keys.append(n)
        except ConnectionClosed:
            return

    # --- inbound ------------------------------------------------------------------------------

    async def _read(self, ws: ClientConnection) -> None:
        rec, pb = self.rec, self.conv.pb
        recv_keys, recv_times = rec.recv_keys, rec.recv_times
        mono = time.monotonic
        try:
            async for raw in ws:
                now = mono()
                if isinstance(raw, bytes):
                    rec.violations.append("binary message")
                    continue
                msg = json.loads(raw)
                event = msg.get("event") if isinstance(msg, dict) else None
                if event == "media":
                    payload = msg["media"]["payload"]
                    recv_times.append(now)
                    recv_keys.append(frame_key(payload))
                    if rec.first_media_at is None:
                        rec.first_media_at = now
                    pb.enqueue(binascii.a2b_base64(payload))
                elif event == "mark":
                    for name in pb.add_mark(str(msg["mark"]["name"])):
                        await self._send_mark(ws, name)
                elif event == "clear":
                    rec.clears.append(now)
                    for name in pb.clear():
                        await self._send_mark(ws, name)
                elif len(rec.violations) < 20:
                    rec.violations.append(f"unexpected message {str(event)[:40]!r}")
        except ConnectionClosed:
            pass
