"""Simulated Twilio Media Streams client: the caller's end of one bidirectional stream.

I/O: `MediaStream.run()` opens one WebSocket client connection (websockets) to the URL of a
`<Connect><Stream>` and speaks the Twilio side of the protocol: `connected`, `start`, a `media`
frame every 20 ms on a monotonic schedule, `dtmf`, `mark` echoes and `stop`. The pure parts live
beside it: the messages (engine.sim.twilio_stream_messages), the caller's script
(engine.sim.twilio_call_script), the playback buffer (engine.sim.twilio_playback) and the
records a call leaves behind (engine.sim.twilio_call_records).

Cheap by design (hundreds of streams share one event loop): one timer loop per stream, payloads
of silence and of every utterance precomputed as base64 once, media messages built by string
formatting, inbound payloads decoded with binascii and never re-encoded.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

import structlog
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, WebSocketException

from engine.audio import BYTES_PER_MS
from engine.sim.frame_clock import until_frame
from engine.sim.twilio_call_records import SimCallError, SimStepTimeout, StreamRecord
from engine.sim.twilio_call_script import (
    BargeIn,
    Dtmf,
    HangUp,
    Pause,
    ScriptCursor,
    Speak,
    Step,
    WaitForAgent,
    utterance_payloads,
)
from engine.sim.twilio_caller_voice import CallerVoice
from engine.sim.twilio_playback import Playback
from engine.sim.twilio_stream_messages import (
    FRAME_S,
    ClearIn,
    MarkIn,
    Violation,
    connected_message,
    dtmf_message,
    json_object,
    mark_message,
    media_message,
    server_event,
    start_message,
    stop_message,
)

log = structlog.get_logger(__name__)


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
        self._voice = CallerVoice()

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
        start = start_message(
            self._next_seq(),
            rec.stream_sid,
            account_sid=self._s.account_sid,
            call_sid=self._s.call_sid,
            custom_parameters=rec.custom_parameters,
        )
        try:
            await ws.send(connected_message())
            self._t0 = rec.started_at = time.monotonic()
            await ws.send(start)
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
        msg = stop_message(
            self._next_seq(),
            self.record.stream_sid,
            account_sid=self._s.account_sid,
            call_sid=self._s.call_sid,
        )
        try:
            async with asyncio.timeout(2.0):
                await ws.send(msg)
            self.record.stop_sent = True
        except (ConnectionClosed, TimeoutError):
            pass

    async def _send_mark(self, ws: ClientConnection, name: str) -> None:
        await ws.send(mark_message(self._next_seq(), self.record.stream_sid, name))
        self.record.marks_sent_back.append(name)

    async def _pump(self, ws: ClientConnection) -> None:
        # Frame n is due at t0 + n*20 ms whatever the lateness of frame n-1 (until_frame).
        # Sends are bounded by the keepalive (ping_timeout) and the call's overall timeout.
        sid = self.record.stream_sid
        playback = self._playback
        voice = self._voice
        frames_log = self.record.sent_frames if self._s.record_frames else None
        mono = time.monotonic
        t0 = self._t0
        n = 0
        try:
            while True:
                n += 1
                rel = await until_frame(t0, n)
                # Conditions see the state before this tick's drain: audio finished by now.
                speech = voice.open_tick(rel)
                for name in playback.tick(rel):
                    await self._send_mark(ws, name)
                payload, started, done = voice.frame(speech)
                if started:
                    self.record.utterances.append(mono())
                await ws.send(media_message(self._next_seq(), sid, n, payload))
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
        msg = json_object(raw)
        if isinstance(msg, Violation):
            self._violate(msg.text)
            return []
        if self._s.record_events:
            rec.events_in.append((now, msg))
        event = server_event(msg, rec.stream_sid)
        if isinstance(event, Violation):
            self._violate(event.text)
            return []
        if isinstance(event, ClearIn):
            rec.clears.append(now)
            return self._playback.clear()
        if isinstance(event, MarkIn):
            return self._playback.add_mark(event.name)
        if rec.first_media_at is None and event.data:
            rec.first_media_at = now
        self._playback.enqueue(event.data)
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
                    and self._voice.now_rel >= end + quiet
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
        msg = dtmf_message(self._next_seq(), self.record.stream_sid, digit)
        try:
            async with asyncio.timeout(self._s.step_timeout):
                await ws.send(msg)
        except TimeoutError as exc:
            raise SimStepTimeout(f"Dtmf({digit!r}): send timed out") from exc
        self.record.dtmf_sent.append(digit)

    async def _until(self, pred: Callable[[], bool], timeout: float, step: Step) -> None:
        try:
            await self._voice.until(pred, timeout)
        except TimeoutError as exc:
            raise self._timed_out(step, timeout) from exc

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
        timeout = len(payloads) * FRAME_S + self._s.step_timeout
        try:
            await self._voice.speak(payloads, gate, timeout)
        except TimeoutError as exc:
            sent = f"sent {self._voice.frames_sent} of {len(payloads)} frames; "
            raise self._timed_out(step, timeout, sent) from exc
