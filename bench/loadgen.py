"""Simulated Twilio callers for load: many calls, one asyncio process, every frame recorded.

I/O: signed webhook POSTs (one shared aiohttp session) to the target, one WebSocket client per
call to the `<Stream url>` of the TwiML it answered, stream status and call status callbacks,
pickle files on `dump`. The WebSocket clients are picows' `websockets`-compatible ones
(compiled framing: what the load side burns, the engine does not get on a shared machine).
Pure parts come from the engine's own simulators: TwiML parsing
(`engine.sim.twiml_verbs.parse_twiml`) and Twilio's playback buffer with its mark
bookkeeping (`engine.sim.twilio_media.Playback`).

Unlike `engine.sim.twilio_caller.TwilioCaller` (one scripted call, every event kept), this
caller is built for hundreds of concurrent calls and for measurement: every 20 ms frame it
sends carries a tag (`bench.tags`), its send time is recorded just after the socket write, and
every agent frame it receives is recorded with its arrival time. Each call behaves like a
person on the phone: it waits for the greeting, then talks in turns (a pause, an utterance,
the agent's answer) and sometimes barges in on the answer, until the driver hangs up all calls.

Run alone: `python -m bench.loadgen` and send it `configure`, `grow`, `cycle`, `dump`,
`hangup`, `quit` commands (`bench.control`).
"""

from __future__ import annotations

import asyncio
import binascii
import contextlib
import json
import os
import pickle
import random
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
from picows.websockets import ClientConnection, ConnectionClosed, WebSocketException, connect
from twilio.request_validator import RequestValidator

from bench import control, lag
from bench.records import CallerDump, LagRecord, StreamRecord
from bench.tags import MAX_STREAM, frame_key, stamp
from engine.audio import BYTES_PER_MS, b64, frames, silence, speech_like
from engine.sim.twilio_media import Playback
from engine.sim.twiml_verbs import TwimlConnect, TwimlError, TwimlSay, parse_twiml
from engine.task_set import TaskSet

FRAME_S = 0.020
FRAME_MS = 20
SILENCE = b64(silence(FRAME_MS))
HTTP_TIMEOUT = aiohttp.ClientTimeout(total=15)  # Twilio's webhook budget
HANGUP_CLOSE_S = 3.0
CONNECTED = json.dumps(
    {"event": "connected", "protocol": "Call", "version": "1.0.0"}
)  # how long a hung-up caller waits for the server to close the socket

LINES = (
    "Hi, I had a small accident yesterday and I would like to start a claim.",
    "Yes, the car is drivable, but the rear bumper is badly dented.",
    "Can you tell me what my deductible is for this?",
    "Okay. And how long does it usually take until an adjuster calls?",
    "I also wanted to ask about adding my daughter to the policy.",
    "Great, thank you. That was everything I needed.",
)
BARGE_LINE = "Sorry, wait, can I ask something?"


@dataclass(frozen=True, slots=True)
class TargetSpec:
    """Where the calls go. Webhooks are POSTed to `webhook_base`; signatures cover
    `public_base_url` (what the target rebuilds behind its proxy)."""

    webhook_base: str
    public_base_url: str
    auth_token: str
    to_numbers: tuple[str, ...]
    voice_path: str = "/twilio/voice"
    status_path: str | None = "/twilio/status"
    account_sid: str = "AC" + "0" * 32


@dataclass(frozen=True, slots=True)
class Behaviour:
    """How a simulated caller talks (ranges are uniform, in milliseconds)."""

    speak_ms: tuple[int, int] = (1200, 2200)
    pause_ms: tuple[int, int] = (300, 1200)
    barge_in_probability: float = 0.3
    barge_after_ms: tuple[int, int] = (600, 1500)
    barge_ms: int = 900
    quiet_ms: int = 600
    agent_timeout_s: float = 12.0


@dataclass(slots=True)
class GrowResult:
    placed: int = 0
    live: int = 0
    failed: int = 0
    refused: int = 0
    active: int = 0
    first_placed_at: float = 0.0
    last_live_at: float = 0.0
    errors: list[str] = field(default_factory=list)


def _utterance(text: str, ms: int) -> tuple[str, ...]:
    return tuple(b64(f) for f in frames(speech_like(text, ms)))


class _Call:
    """One call: webhook, media stream, conversation. Owns its socket and its tasks."""

    def __init__(self, gen: LoadGenerator, index: int, to_number: str) -> None:
        self.gen = gen
        self.rng = random.Random(gen.seed * 100_003 + index)
        self.rec = StreamRecord(
            index=index, call_sid="CA" + secrets.token_hex(16), placed_at=time.monotonic()
        )
        self.from_number = f"+1555{2000000 + index:07d}"
        self.to_number = to_number
        self.settled = asyncio.Event()  # live, refused or failed
        self.hangup = asyncio.Event()
        self.pb = Playback()
        self.stream_sid = "MZ" + secrets.token_hex(16)
        self.now_rel = 0.0
        self.seq = 0
        self.speech: tuple[str, ...] | None = None
        self.speech_i = 0
        self.speech_done: asyncio.Future[None] | None = None
        self.waiters: list[tuple[Callable[[], bool], asyncio.Future[None]]] = []
        self.side_tasks = TaskSet("caller_callback")
        self.task: asyncio.Task[None] | None = None  # run(), once placed

    @property
    def active(self) -> bool:
        return self.rec.outcome in ("placed", "live")

    # --- HTTP --------------------------------------------------------------------------------

    def _params(self, status: str) -> dict[str, str]:
        return {
            "AccountSid": self.gen.target.account_sid,
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

    async def _post(self, public_url: str, params: dict[str, str]) -> tuple[int, str]:
        gen = self.gen
        headers = {"X-Twilio-Signature": gen.validator.compute_signature(public_url, params)}
        url = gen.transport_url(public_url)
        async with gen.http.post(url, data=params, headers=headers, timeout=HTTP_TIMEOUT) as r:
            return r.status, await r.text()

    def _callback(self, public_url: str, params: dict[str, str]) -> None:
        async def send() -> None:
            try:
                status, _ = await self._post(public_url, params)
                if status >= 300:
                    self.rec.callbacks_failed += 1
            except (aiohttp.ClientError, TimeoutError):
                self.rec.callbacks_failed += 1

        self.side_tasks.spawn(send())

    def _stream_callback(self, url: str, event: str) -> None:
        self._callback(
            url,
            {
                "AccountSid": self.gen.target.account_sid,
                "CallSid": self.rec.call_sid,
                "StreamSid": self.stream_sid,
                "StreamName": self.stream_sid,
                "StreamEvent": event,
                "Timestamp": datetime.now(UTC).isoformat(),
            },
        )

    # --- the call ----------------------------------------------------------------------------

    async def run(self) -> None:
        rec = self.rec
        try:
            connect_verb = await self._answer()
            if connect_verb is not None:
                await self._stream(connect_verb)
                if rec.outcome == "live":
                    rec.outcome = "ended" if rec.closed_by == "caller" else "dropped"
        except Exception as exc:
            rec.outcome = "failed"
            rec.error = rec.error or repr(exc)
        finally:
            self.settled.set()
            target = self.gen.target
            if target.status_path is not None and rec.webhook_status == 200:
                params = self._params("completed")
                started = rec.started_at or rec.placed_at
                params["CallDuration"] = str(round(time.monotonic() - started))
                params["SequenceNumber"] = "0"
                self._callback(target.public_base_url + target.status_path, params)
            await self.side_tasks.wait(10)

    async def _answer(self) -> TwimlConnect | None:
        rec, target = self.rec, self.gen.target
        params = self._params("ringing")
        params["CallToken"] = secrets.token_urlsafe(48)
        began = time.perf_counter()
        try:
            status, body = await self._post(target.public_base_url + target.voice_path, params)
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

    async def _stream(self, verb: TwimlConnect) -> None:
        rec = self.rec
        stream = verb.stream
        assert stream is not None
        signature = self.gen.validator.compute_signature(stream.url, {})
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
        start = {
            "event": "start",
            "sequenceNumber": self._next_seq(),
            "streamSid": self.stream_sid,
            "start": {
                "accountSid": self.gen.target.account_sid,
                "streamSid": self.stream_sid,
                "callSid": rec.call_sid,
                "tracks": ["inbound"],
                "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
                "customParameters": dict(stream.parameters),
            },
        }
        try:
            await ws.send(CONNECTED)
            rec.started_at = time.monotonic()
            await ws.send(json.dumps(start))
        except ConnectionClosed:
            rec.outcome, rec.error = "failed", "stream closed before start"
            return
        rec.outcome = "live"
        self.settled.set()
        if stream.status_callback:
            self._stream_callback(stream.status_callback, "stream-started")
        try:
            async with asyncio.TaskGroup() as tg:
                reader = tg.create_task(self._read(ws))
                pump = tg.create_task(self._pump(ws))
                talk = tg.create_task(self._converse())
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
            self._stream_callback(stream.status_callback, "stream-stopped")
        if rec.closed_by == "server" and verb.action:
            with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                await self._post(verb.action, self._params("in-progress"))

    def _next_seq(self) -> str:
        self.seq += 1
        return str(self.seq)

    async def _send_stop(self, ws: ClientConnection) -> None:
        msg = {
            "event": "stop",
            "sequenceNumber": self._next_seq(),
            "streamSid": self.stream_sid,
            "stop": {"accountSid": self.gen.target.account_sid, "callSid": self.rec.call_sid},
        }
        with contextlib.suppress(ConnectionClosed, TimeoutError):
            async with asyncio.timeout(2.0):
                await ws.send(json.dumps(msg))
                self.rec.stop_at = time.monotonic()

    async def _send_mark(self, ws: ClientConnection, name: str) -> None:
        await ws.send(
            f'{{"event":"mark","sequenceNumber":"{self._next_seq()}",'
            f'"streamSid":"{self.stream_sid}","mark":{{"name":{json.dumps(name)}}}}}'
        )
        self.rec.marks_echoed += 1

    # --- outbound: one frame every 20 ms on a fixed schedule -----------------------------------

    async def _pump(self, ws: ClientConnection) -> None:
        rec, pb = self.rec, self.pb
        sid, stream_no = self.stream_sid, rec.index & MAX_STREAM
        sent_keys, sent_times = rec.sent_keys, rec.sent_times
        mono = time.monotonic
        t0 = rec.started_at
        assert t0 is not None
        n = 0
        try:
            while True:
                n += 1
                delay = t0 + n * FRAME_S - mono()
                if delay > 0:
                    await asyncio.sleep(delay)
                self.now_rel = rel = n * FRAME_S
                for name in pb.tick(rel):
                    await self._send_mark(ws, name)
                if self.waiters:
                    for pred, fut in self.waiters:
                        if not fut.done() and pred():
                            fut.set_result(None)
                speech = self.speech
                if speech is None:
                    payload = SILENCE
                else:
                    payload = speech[self.speech_i]
                    self.speech_i += 1
                    if self.speech_i >= len(speech):
                        self.speech = None
                        if self.speech_done is not None and not self.speech_done.done():
                            self.speech_done.set_result(None)
                payload = stamp(payload, stream_no, n)
                await ws.send(
                    f'{{"event":"media","sequenceNumber":"{self._next_seq()}","streamSid":"{sid}",'
                    f'"media":{{"track":"inbound","chunk":"{n}","timestamp":"{n * FRAME_MS}",'
                    f'"payload":"{payload}"}}}}'
                )
                sent_times.append(mono())
                sent_keys.append(n)
        except ConnectionClosed:
            return

    # --- inbound ------------------------------------------------------------------------------

    async def _read(self, ws: ClientConnection) -> None:
        rec, pb = self.rec, self.pb
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

    # --- the conversation ---------------------------------------------------------------------

    def _agent_done(self) -> bool:
        pb, end = self.pb, self.pb.last_play_end
        quiet = self.gen.behaviour.quiet_ms / 1000
        return (
            pb.turn_played > 0
            and pb.buffered == 0
            and end is not None
            and self.now_rel >= end + quiet
        )

    async def _until(self, pred: Callable[[], bool], timeout: float) -> bool:
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (pred, fut)
        self.waiters.append(entry)
        try:
            async with asyncio.timeout(timeout):
                await fut
            return True
        except TimeoutError:
            return False
        finally:
            self.waiters.remove(entry)

    async def _speak(self, payloads: tuple[str, ...]) -> None:
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.speech_i, self.speech_done, self.speech = 0, fut, payloads
        try:
            await fut
        finally:
            self.speech = self.speech_done = None
        self.pb.new_turn()

    async def _wait_agent(self) -> None:
        if not await self._until(self._agent_done, self.gen.behaviour.agent_timeout_s):
            self.rec.agent_timeouts += 1
        self.pb.new_turn()

    async def _converse(self) -> None:
        b, rng, pb = self.gen.behaviour, self.rng, self.pb
        await self._wait_agent()  # the greeting
        while True:
            await asyncio.sleep(rng.uniform(*b.pause_ms) / 1000)
            await self._speak(rng.choice(self.gen.utterances))
            if rng.random() < b.barge_in_probability:
                need = int(rng.uniform(*b.barge_after_ms)) * BYTES_PER_MS

                def barge_point(need: int = need) -> bool:
                    return pb.turn_played >= need or self._agent_done()

                reached = await self._until(barge_point, b.agent_timeout_s)
                if reached and pb.turn_played >= need and pb.buffered > 0:
                    self.rec.barge_ins.append(time.monotonic())
                    await self._speak(self.gen.barge_utterance)
            await self._wait_agent()


class LoadGenerator:
    """Places and runs simulated calls against one target; see the module docstring."""

    def __init__(self, target: TargetSpec, behaviour: Behaviour, seed: int = 1) -> None:
        self.target = target
        self.behaviour = behaviour
        self.seed = seed
        self.validator = RequestValidator(target.auth_token)
        self.calls: list[_Call] = []
        self.tasks = TaskSet("caller")
        self.lag = LagRecord(role="callers")
        rng = random.Random(seed)
        self.utterances = tuple(
            _utterance(line, int(rng.uniform(*behaviour.speak_ms))) for line in LINES
        )
        self.barge_utterance = _utterance(BARGE_LINE, behaviour.barge_ms)
        self._http: aiohttp.ClientSession | None = None
        self._probe: asyncio.Task[None] | None = None

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

    def active(self) -> int:
        return sum(1 for c in self.calls if c.active)

    def _place(self) -> _Call:
        if self._probe is None:
            self._probe = asyncio.get_running_loop().create_task(lag.probe(self.lag))
        index = len(self.calls) + 1
        numbers = self.target.to_numbers
        call = _Call(self, index, numbers[index % len(numbers)])
        self.calls.append(call)
        call.task = self.tasks.spawn(call.run())
        return call

    async def grow(self, target: int, rate: float, settle_timeout: float = 60.0) -> GrowResult:
        """Place `rate` calls per second, as many as `target` less those active now; return once
        every new call is live, refused or failed. A refused call is not placed again: a full
        node refusing calls is measured, not worked around."""
        wanted = target - self.active()
        if wanted > MAX_STREAM - len(self.calls):
            raise ValueError("too many calls for the 16-bit stream tag")
        began = time.monotonic()
        new: list[_Call] = []
        while len(new) < wanted:
            due = began + len(new) / rate
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            new.append(self._place())
        if new:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    asyncio.gather(*(c.settled.wait() for c in new)), settle_timeout
                )
        result = GrowResult(
            placed=len(new),
            live=sum(1 for c in new if c.rec.outcome == "live"),
            failed=sum(1 for c in new if c.rec.outcome in ("failed", "placed", "ended", "dropped")),
            refused=sum(1 for c in new if c.rec.outcome == "refused"),
            active=self.active(),
            first_placed_at=new[0].rec.placed_at if new else began,
            last_live_at=max((c.rec.started_at or 0.0 for c in new), default=began),
            errors=sorted({c.rec.error for c in new if c.rec.error})[:10],
        )
        return result

    async def cycle(self, count: int, rate: float, timeout: float = 30.0) -> dict[str, Any]:
        """The `count` oldest active calls hang up and as many new ones are placed (a soak's
        churn); returns how many ended within `timeout` and the new calls' GrowResult."""
        target = self.active()
        old = [c for c in self.calls if c.active][:count]
        for call in old:
            call.hangup.set()
        running = [c.task for c in old if c.task is not None]
        if running:
            await asyncio.wait(running, timeout=timeout)
        ended = sum(1 for c in old if not c.active)
        grown = await self.grow(target, rate, timeout)
        return {"hung_up": len(old), "ended": ended, **asdict(grown)}

    async def hangup_all(self, timeout: float = 30.0) -> int:
        """Every live call hangs up; returns how many calls were still running after it."""
        for call in self.calls:
            call.hangup.set()
        return await self.tasks.wait(timeout)

    def records(self, since: float = 0.0) -> CallerDump:
        return CallerDump(
            streams=[c.rec.window(since) for c in self.calls],
            lag=self.lag.window(since),
            pid=os.getpid(),
        )

    async def close(self) -> None:
        await self.hangup_all(5.0)
        await self.tasks.close(5)
        if self._probe is not None:
            self._probe.cancel()
        if self._http is not None:
            await self._http.close()


async def _run() -> None:
    gen: LoadGenerator | None = None

    async def handle(command: dict[str, Any]) -> dict[str, Any]:
        nonlocal gen
        op = command.get("op")
        if op == "configure":
            target = command["target"]
            target["to_numbers"] = tuple(target["to_numbers"])
            behaviour: dict[str, Any] = {
                k: tuple(v) if isinstance(v, list) else v
                for k, v in command.get("behaviour", {}).items()
            }
            gen = LoadGenerator(
                TargetSpec(**target), Behaviour(**behaviour), int(command.get("seed", 1))
            )
            return {"ok": True, "pid": os.getpid()}
        if gen is None:
            return {"ok": False, "error": "configure first"}
        if op == "grow":
            result = await gen.grow(
                int(command["target"]),
                float(command["rate"]),
                float(command.get("settle_timeout", 60.0)),
            )
            return {"ok": True, **asdict(result)}
        if op == "dump":
            dump = gen.records(float(command.get("since", 0.0)))
            data = pickle.dumps(dump, protocol=5)
            await asyncio.to_thread(Path(command["path"]).write_bytes, data)
            return {"ok": True, "streams": len(dump.streams)}
        if op == "cycle":
            done = await gen.cycle(
                int(command["count"]), float(command["rate"]), float(command.get("timeout", 30.0))
            )
            return {"ok": True, **done}
        if op == "hangup":
            left = await gen.hangup_all(float(command.get("timeout", 30.0)))
            return {"ok": True, "still_running": left}
        if op == "quit":
            await gen.close()
            return {"ok": True}
        return {"ok": False, "error": f"unknown op {op!r}"}

    await control.serve_commands(handle)
    if gen is not None:
        await gen.close()


def main(argv: Sequence[str] | None = None) -> int:
    control.quiet_logs()
    loop = control.install_uvloop()
    control.reply({"ok": True, "pid": os.getpid(), "loop": loop})
    asyncio.run(_run())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
