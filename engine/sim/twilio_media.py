"""Simulated Twilio Media Streams client: the caller's end of one bidirectional stream.

I/O: `MediaStream.run()` opens one WebSocket client connection (websockets) to the URL of a
`<Connect><Stream>` and speaks the Twilio side of the protocol: `connected`, `start`, a `media`
frame every 20 ms on a monotonic schedule, `dtmf`, `mark` echoes and `stop`. Everything else
here is pure: the caller script steps, `Playback` (Twilio's outbound playback buffer and mark
bookkeeping, clocked by the frame ticks) and the records a call leaves behind.

Cheap by design (hundreds of streams share one event loop): one timer loop per stream, payloads
of silence and of every utterance precomputed as base64 once, media messages built by string
formatting, inbound payloads decoded with binascii and never re-encoded.
"""

from __future__ import annotations

import asyncio
import binascii
import builtins
import functools
import json
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

import structlog
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, WebSocketException

from engine.audio import (
    BYTES_PER_MS,
    FRAME_BYTES,
    b64,
    frames,
    load_wav_as_ulaw,
    silence,
    speech_like,
)

if TYPE_CHECKING:
    from engine.sim.caller_result import CallResult

log = structlog.get_logger(__name__)

FRAME_S = 0.020
FRAME_MS = 20
SILENCE_PAYLOAD = b64(silence(FRAME_MS))
DTMF_DIGITS = frozenset("0123456789*#")


# --- caller script -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WaitForAgent:
    """Wait until agent audio has played in this turn, finished, and `quiet_ms` passed."""

    timeout: float = 10.0
    quiet_ms: int = 600


@dataclass(frozen=True, slots=True)
class Speak:
    """Stream `speech_like(text, ms)` (or the WAV) in real time in place of silence."""

    text: str
    ms: int | None = None
    wav: Path | None = None


@dataclass(frozen=True, slots=True)
class BargeIn:
    """Wait until `after_ms` of agent audio has played in the current turn, then speak
    `speech_like(text, ms)` or the WAV."""

    after_ms: int
    text: str
    ms: int | None = None
    wav: Path | None = None

    def __post_init__(self) -> None:
        if self.after_ms < 0:
            raise ValueError("BargeIn.after_ms must be >= 0")


@dataclass(frozen=True, slots=True)
class Pause:
    seconds: float

    def __post_init__(self) -> None:
        if self.seconds < 0:
            raise ValueError("Pause.seconds must be >= 0")


@dataclass(frozen=True, slots=True)
class Dtmf:
    digit: str

    def __post_init__(self) -> None:
        if len(self.digit) != 1 or self.digit not in DTMF_DIGITS:
            raise ValueError(f"Dtmf.digit must be one of 0-9 * #, got {self.digit!r}")


@dataclass(frozen=True, slots=True)
class HangUp:
    """Send `stop` and close the socket: the caller hung up."""


Step: TypeAlias = WaitForAgent | Speak | BargeIn | Pause | Dtmf | HangUp


@dataclass(frozen=True, slots=True)
class CallScript:
    steps: tuple[Step, ...]
    from_number: str = "+15550100001"
    to_number: str = "+15550109999"
    queue_patience_s: float | None = None  # held in a queue this long, the caller hangs up
    hold_patience_s: float | None = None  # held in a conference this long, the caller hangs up


class ScriptCursor:
    """Position in a script, shared by the successive streams of one call.

    A step interrupted by a closing stream is not counted as done: the next stream (after a
    `<Connect action>` reconnect) runs it again, then the remaining steps.
    """

    def __init__(self, steps: tuple[Step, ...]) -> None:
        self.steps = steps
        self.index = 0


@functools.lru_cache(maxsize=512)
def _payloads(text: str, ms: int | None, wav: str | None) -> tuple[str, ...]:
    audio = load_wav_as_ulaw(Path(wav)) if wav is not None else speech_like(text, ms)
    return tuple(b64(frame) for frame in frames(audio))


def utterance_payloads(step: Speak | BargeIn) -> tuple[str, ...]:
    """Base64 20 ms frames of what the caller says in `step` (cached per text/ms/WAV path)."""
    return _payloads(step.text, step.ms, str(step.wav) if step.wav is not None else None)


# --- records ---------------------------------------------------------------------------------


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


@dataclass(slots=True)
class StreamRecord:
    """What happened on one media stream connection (times are time.monotonic())."""

    stream_sid: str
    custom_parameters: dict[str, str]
    url: str = ""
    index: int = 0
    started_at: float = 0.0
    closed_by: str = ""  # "caller" | "server" | "error" | "rest" (Twilio ended it: REST update)
    close_code: int | None = None
    events_in: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    clears: list[float] = field(default_factory=list)
    utterances: list[float] = field(default_factory=list)  # when each Speak/BargeIn began
    marks_sent_back: list[str] = field(default_factory=list)
    dtmf_sent: list[str] = field(default_factory=list)
    stop_sent: bool = False
    sent_frames: list[tuple[float, str]] = field(default_factory=list)
    segments: list[HeardSegment] = field(default_factory=list)
    heard_bytes: int = 0
    first_media_at: float | None = None
    status_callbacks: list[tuple[str, int | None]] = field(default_factory=list)

    def first_audio_after_start_ms(self) -> float | None:
        if self.first_media_at is None:
            return None
        return (self.first_media_at - self.started_at) * 1000.0


class SimCallError(RuntimeError):
    """A simulated call could not go as scripted; `result` holds what happened until then."""

    def __init__(self, message: str, result: CallResult | None = None) -> None:
        super().__init__(message)
        self.result = result


class SimStepTimeout(SimCallError):
    """A script step did not complete within its timeout."""


# --- playback (pure) -------------------------------------------------------------------------


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


# --- the stream client -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StreamSettings:
    url: str  # as in the TwiML: what the handshake signature covers
    connect_url: str  # where the socket actually goes (differs behind a proxy)
    signature: str
    account_sid: str
    call_sid: str
    step_timeout: float = 30.0
    open_timeout: float = 10.0
    record_frames: bool = False
    record_events: bool = True
    record_audio: bool = True
    send_stop_on_rest: bool = True


class MediaStream:
    """The caller's end of one `<Connect><Stream>` WebSocket.

    Owns the socket, the 20 ms frame clock, the playback buffer and, while it runs, the script
    cursor. Three tasks in one TaskGroup: the reader (server messages), the pump (one timer loop:
    plays 20 ms, releases marks, sends one frame) and the script steps. `run()` returns when the
    server closes the socket or it breaks, the script hangs up, or `terminate()` is called (a
    REST update); `record.closed_by` says which. A step timeout closes the socket from the
    caller side and is raised from `run()` as `SimStepTimeout`.
    """

    def __init__(
        self,
        *,
        settings: StreamSettings,
        cursor: ScriptCursor,
        record: StreamRecord,
        violations: list[str],
        on_event: Callable[[str, StreamRecord], None] | None = None,
    ) -> None:
        self._s = settings
        self._cursor = cursor
        self.record = record
        self._violations = violations
        self._on_event = on_event
        self._playback = Playback(keep_audio=settings.record_audio, stream_index=record.index)
        self._end = asyncio.Event()
        self._reason = ""
        self._send_stop = True
        self._error: SimCallError | None = None
        self._ws: ClientConnection | None = None
        self._seq = 0
        self._t0 = 0.0
        self._now_rel = 0.0
        self._speech: tuple[str, ...] | None = None
        self._speech_i = 0
        self._speech_done: asyncio.Future[None] | None = None
        self._speech_gate: Callable[[], bool] | None = None
        self._waiters: list[tuple[Callable[[], bool], asyncio.Future[None]]] = []

    # -- control ------------------------------------------------------------------------------

    def terminate(self) -> None:
        """Twilio ends the stream (REST hang-up or new TwiML); safe before or during run()."""
        self._send_stop = self._s.send_stop_on_rest
        self._finish("rest")

    def _finish(self, reason: str) -> None:
        if not self._end.is_set():
            self._reason = reason
            self._end.set()

    def _violate(self, text: str) -> None:
        self._violations.append(text)
        log.warning(
            "sim_stream_violation",
            call_sid=self._s.call_sid,
            stream_sid=self.record.stream_sid,
            violation=text,
        )

    def _emit(self, event: str) -> None:
        if self._on_event is not None:
            self._on_event(event, self.record)

    async def run(self) -> None:
        rec = self.record
        if self._end.is_set():
            rec.closed_by = self._reason
            return
        try:
            ws = await connect(
                self._s.connect_url,
                additional_headers={"X-Twilio-Signature": self._s.signature},
                user_agent_header="Twilio.TmeWs/1.0",
                compression=None,
                proxy=None,
                open_timeout=self._s.open_timeout,
                ping_interval=10,
                ping_timeout=10,
                close_timeout=2,
            )
        except (OSError, TimeoutError, WebSocketException) as exc:
            rec.closed_by = "error"
            self._violate(f"31920 stream WebSocket handshake failed: {exc!r}")
            self._emit("stream-error")
            return
        self._ws = ws
        try:
            await self._connect_and_stream(ws)
        finally:
            await ws.close()  # no-op when closed; bounded by close_timeout
            self._playback.finish()
            rec.closed_by = self._reason
            rec.close_code = ws.close_code
            rec.segments = self._playback.segments
            rec.heard_bytes = self._playback.played_total
            log.info(
                "sim_stream_closed",
                call_sid=self._s.call_sid,
                stream_sid=rec.stream_sid,
                closed_by=rec.closed_by,
                close_code=rec.close_code,
                heard_ms=rec.heard_bytes // BYTES_PER_MS,
            )
            self._emit("stream-stopped")
        if self._error is not None:
            raise self._error

    async def _connect_and_stream(self, ws: ClientConnection) -> None:
        rec = self.record
        start = {
            "event": "start",
            "sequenceNumber": self._next_seq(),
            "streamSid": rec.stream_sid,
            "start": {
                "accountSid": self._s.account_sid,
                "streamSid": rec.stream_sid,
                "callSid": self._s.call_sid,
                "tracks": ["inbound"],
                "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
                "customParameters": rec.custom_parameters,
            },
        }
        try:
            await ws.send(_dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"}))
            self._t0 = rec.started_at = time.monotonic()
            await ws.send(_dumps(start))
        except ConnectionClosed:
            self._finish("server" if ws.protocol.close_rcvd is not None else "error")
            return
        log.info("sim_stream_started", call_sid=self._s.call_sid, stream_sid=rec.stream_sid)
        self._emit("stream-started")
        async with asyncio.TaskGroup() as tg:
            reader = tg.create_task(self._read(ws))
            others = (tg.create_task(self._pump(ws)), tg.create_task(self._run_steps()))
            await self._end.wait()
            for task in others:
                task.cancel()
            if self._reason in ("caller", "rest") and not reader.done():
                if self._send_stop:
                    await self._send_stop_message(ws)
                await ws.close()
            reader.cancel()

    # -- outbound -----------------------------------------------------------------------------

    def _next_seq(self) -> str:
        self._seq += 1
        return str(self._seq)

    async def _send_stop_message(self, ws: ClientConnection) -> None:
        msg = {
            "event": "stop",
            "sequenceNumber": self._next_seq(),
            "streamSid": self.record.stream_sid,
            "stop": {"accountSid": self._s.account_sid, "callSid": self._s.call_sid},
        }
        try:
            async with asyncio.timeout(2.0):
                await ws.send(_dumps(msg))
            self.record.stop_sent = True
        except (ConnectionClosed, TimeoutError):
            pass

    async def _send_mark(self, ws: ClientConnection, name: str) -> None:
        msg = {
            "event": "mark",
            "sequenceNumber": self._next_seq(),
            "streamSid": self.record.stream_sid,
            "mark": {"name": name},
        }
        await ws.send(_dumps(msg))
        self.record.marks_sent_back.append(name)

    async def _pump(self, ws: ClientConnection) -> None:
        # Frame n is due at t0 + n*20 ms whatever the lateness of frame n-1: no cumulative drift.
        # Sends are bounded by the keepalive (ping_timeout) and the call's overall timeout.
        sid = self.record.stream_sid
        playback = self._playback
        frames_log = self.record.sent_frames if self._s.record_frames else None
        mono = time.monotonic
        t0 = self._t0
        n = 0
        try:
            while True:
                n += 1
                delay = t0 + n * FRAME_S - mono()
                if delay > 0:
                    await asyncio.sleep(delay)
                rel = n * FRAME_S
                self._now_rel = rel
                # Conditions see the state before this tick's drain: audio finished by now.
                if self._waiters:
                    for pred, fut in self._waiters:
                        if not fut.done() and pred():
                            fut.set_result(None)
                speech = self._speech
                if speech is not None and self._speech_gate is not None:
                    if self._speech_gate():
                        self._speech_gate = None
                    else:
                        speech = None
                for name in playback.tick(rel):
                    await self._send_mark(ws, name)
                done: asyncio.Future[None] | None = None
                if speech is None:
                    payload = SILENCE_PAYLOAD
                else:
                    payload = speech[self._speech_i]
                    if self._speech_i == 0:
                        self.record.utterances.append(mono())
                    self._speech_i += 1
                    if self._speech_i >= len(speech):
                        self._speech = None
                        done = self._speech_done
                await ws.send(
                    f'{{"event":"media","sequenceNumber":"{self._next_seq()}","streamSid":"{sid}",'
                    f'"media":{{"track":"inbound","chunk":"{n}","timestamp":"{n * FRAME_MS}",'
                    f'"payload":"{payload}"}}}}'
                )
                if frames_log is not None:
                    frames_log.append((mono(), payload))
                if done is not None:
                    playback.new_turn()
                    if not done.done():
                        done.set_result(None)
        except ConnectionClosed:
            return  # the reader sees the close too and ends the stream

    # -- inbound ------------------------------------------------------------------------------

    async def _read(self, ws: ClientConnection) -> None:
        try:
            async for raw in ws:
                for name in self._on_message(raw, time.monotonic()):
                    await self._send_mark(ws, name)
        except ConnectionClosed:
            pass
        self._finish("server" if ws.protocol.close_rcvd is not None else "error")

    def _on_message(self, raw: str | bytes, now: float) -> list[str]:
        """Apply one server message; returns the marks to echo at once."""
        rec = self.record
        if isinstance(raw, bytes):
            self._violate("31924 binary WebSocket message from the server (JSON text expected)")
            return []
        try:
            msg = json.loads(raw)
        except ValueError:
            self._violate(f"31924 malformed JSON from the server: {raw[:80]!r}")
            return []
        if not isinstance(msg, dict):
            self._violate(f"31924 server message is not a JSON object: {raw[:80]!r}")
            return []
        if self._s.record_events:
            rec.events_in.append((now, msg))
        event = msg.get("event")
        if event not in ("media", "mark", "clear"):
            self._violate(f"31924 unknown event {event!r} from the server")
            return []
        if msg.get("streamSid") != rec.stream_sid:
            self._violate(f"31924 {event} with streamSid {msg.get('streamSid')!r}, not ours")
            return []
        if event == "clear":
            rec.clears.append(now)
            return self._playback.clear()
        body = msg.get(event)
        if event == "mark":
            name = body.get("name") if isinstance(body, dict) else None
            if not isinstance(name, str):
                self._violate("31924 mark without mark.name")
                return []
            return self._playback.add_mark(name)
        payload = body.get("payload") if isinstance(body, dict) else None
        if not isinstance(payload, str):
            self._violate("31924 media without media.payload")
            return []
        try:
            data = binascii.a2b_base64(payload, strict_mode=True)
        except binascii.Error:
            self._violate("31924 media.payload is not valid base64")
            return []
        if rec.first_media_at is None and data:
            rec.first_media_at = now
        self._playback.enqueue(data)
        return []

    # -- the script ---------------------------------------------------------------------------

    async def _run_steps(self) -> None:
        cursor = self._cursor
        try:
            while cursor.index < len(cursor.steps):
                step = cursor.steps[cursor.index]
                await self._do(step)
                cursor.index += 1
                if isinstance(step, HangUp):
                    self._finish("caller")
                    return
        except SimCallError as exc:
            self._error = exc
            self._send_stop = True
            self._finish("caller")

    async def _do(self, step: Step) -> None:
        pb = self._playback
        if isinstance(step, WaitForAgent):
            quiet = step.quiet_ms / 1000

            def agent_done() -> bool:
                end = pb.last_play_end
                return (
                    pb.turn_played > 0
                    and pb.buffered == 0
                    and end is not None
                    and self._now_rel >= end + quiet
                )

            await self._until(agent_done, step.timeout, step)
            pb.new_turn()
        elif isinstance(step, Speak):
            await self._speak(utterance_payloads(step), step)
        elif isinstance(step, BargeIn):
            need = step.after_ms * BYTES_PER_MS
            await self._speak(utterance_payloads(step), step, gate=lambda: pb.turn_played >= need)
        elif isinstance(step, Pause):
            await asyncio.sleep(step.seconds)
        elif isinstance(step, Dtmf):
            await self._send_dtmf(step.digit)

    async def _send_dtmf(self, digit: str) -> None:
        ws = self._ws
        assert ws is not None
        msg = {
            "event": "dtmf",
            "streamSid": self.record.stream_sid,
            "sequenceNumber": self._next_seq(),
            "dtmf": {"track": "inbound_track", "digit": digit},
        }
        try:
            async with asyncio.timeout(self._s.step_timeout):
                await ws.send(_dumps(msg))
        except TimeoutError as exc:
            raise SimStepTimeout(f"Dtmf({digit!r}): send timed out") from exc
        self.record.dtmf_sent.append(digit)

    async def _until(self, pred: Callable[[], bool], timeout: float, step: Step) -> None:
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (pred, fut)
        self._waiters.append(entry)
        try:
            async with asyncio.timeout(timeout):
                await fut
        except TimeoutError as exc:
            raise self._timed_out(step, timeout) from exc
        finally:
            self._waiters.remove(entry)

    def _timed_out(self, step: Step, timeout: float, detail: str = "") -> SimStepTimeout:
        heard, turn = self._playback.played_total, self._playback.turn_played
        return SimStepTimeout(
            f"step {self._cursor.index} {step!r} timed out after {timeout:.1f} s ({detail}"
            f"agent audio heard: {heard // BYTES_PER_MS} ms, this turn: {turn // BYTES_PER_MS} ms)"
        )

    async def _speak(
        self, payloads: tuple[str, ...], step: Step, gate: Callable[[], bool] | None = None
    ) -> None:
        """Stream `payloads` from the first tick where `gate()` holds (at once without one)."""
        if not payloads:
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._speech, self._speech_i, self._speech_done = payloads, 0, fut
        self._speech_gate = gate
        timeout = len(payloads) * FRAME_S + self._s.step_timeout
        try:
            async with asyncio.timeout(timeout):
                await fut
        except TimeoutError as exc:
            sent = f"sent {self._speech_i} of {len(payloads)} frames; "
            raise self._timed_out(step, timeout, sent) from exc
        finally:
            if self._speech_done is fut:
                self._speech = self._speech_done = self._speech_gate = None


def _dumps(obj: dict[str, Any]) -> str:
    return json.dumps(obj, separators=(",", ":"))
