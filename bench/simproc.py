"""The realtime side of a benchmark: the shipped OpenAI Realtime simulator, instrumented.

I/O: a WebSocket server (the simulator's), a pickle file per dump, the command pipe.

`BenchSimulator` is `engine.sim.realtime.RealtimeSimulator` with sessions that also keep a
compact `SessionRecord`: the key and arrival time of every `input_audio_buffer.append`, the key,
send time and response of every audio delta, `speech_started` times and responses cancelled by
turn detection. Each delta is stamped with a tag (`bench.tags`) before it is sent, so the same
reply audio in a hundred calls is a hundred distinct frames. The stock per-frame lists
(`append_times`, `audio_in`) are emptied as it goes: a long ramp would otherwise keep gigabytes.

A delta's send time is taken just before the simulator serialises and writes it; the few
microseconds of `json.dumps` count against the relay under test, never for it.

`session_records(sim)` gives the same records for any simulator, instrumented or stock (the
smoke test reads the engine's built-in simulator this way; stock deltas carry no tag and are
matched by CRC, first in first out).

Run alone: `python -m bench.simproc --port P [--pace 4 --chunk-ms 100]`; it prints its base
URL and then answers `dump` and `quit` commands (`bench.control`).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import pickle
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from picows.websockets import ServerConnection

from bench import control, lag
from bench.records import LagRecord, SessionRecord, SimDump
from bench.tags import MAX_COUNTER, MAX_STREAM, can_stamp, frame_key, key_stream, make_key, stamp
from engine.sim.realtime import RealtimeSimulator, SimSession
from engine.sim.realtime_script import Reply, Script

DELTA = "response.output_audio.delta"

# What the simulated agent says, turn after turn (3-6 s of audio each, so barge-ins land).
REPLIES = (
    "Sure, I can help with that. Let me pull up your policy and check what it covers for you.",
    "Thanks for waiting. Your comprehensive coverage includes theft, hail, fire and flooding.",
    "I understand. I have noted the details of the accident and opened a claim for you now.",
    "Your deductible for this kind of claim is five hundred dollars, paid when it is settled.",
    "An adjuster will call you within one business day to schedule an inspection of the car.",
    "Is there anything else I can help you with today, or any other question about the claim?",
)
BENCH_SCRIPT = Script(replies=tuple(Reply(text=r) for r in REPLIES))


class BenchSession(SimSession):
    """A simulator session that also fills a `SessionRecord` (see the module docstring)."""

    def __init__(self, sim: RealtimeSimulator, ws: ServerConnection, model: str, index: int):
        super().__init__(sim, ws, model)
        self.bench = SessionRecord(index=index, opened_at=time.monotonic())
        self._responses: dict[str, int] = {}
        self._deltas = 0

    def _response_number(self, response_id: object) -> int:
        key = str(response_id)
        number = self._responses.get(key)
        if number is None:
            number = self._responses[key] = len(self._responses) + 1
        return number

    async def _on_input_audio_buffer_append(self, event: dict[str, Any], now: float) -> None:
        payload = event.get("audio")
        if isinstance(payload, str):
            rec = self.bench
            key = frame_key(payload)
            rec.append_keys.append(key)
            rec.append_times.append(now)
            if rec.first_stream is None:
                rec.first_stream = key_stream(key)
        await super()._on_input_audio_buffer_append(event, now)
        self.append_times.clear()
        self.audio_in.clear()

    async def _send(self, event: dict[str, Any], *, record: bool = True) -> None:
        kind = event.get("type")
        rec = self.bench
        if kind == DELTA:
            delta = event.get("delta")
            if isinstance(delta, str):
                self._deltas += 1
                counter = self._deltas
                if can_stamp(delta) and counter <= MAX_COUNTER:
                    delta = stamp(delta, rec.index & MAX_STREAM, counter)
                    event["delta"] = delta
                    key = make_key(rec.index & MAX_STREAM, counter)
                else:
                    key = frame_key(delta)
                rec.delta_keys.append(key)
                rec.delta_responses.append(self._response_number(event.get("response_id")))
                rec.delta_times.append(time.monotonic())
            await super()._send(event, record=False)
            return
        if kind == "input_audio_buffer.speech_started":
            rec.speech_started.append(time.monotonic())
        elif kind == "response.done":
            response = event.get("response")
            if isinstance(response, dict) and response.get("status") == "cancelled":
                rec.cancelled[self._response_number(response.get("id"))] = time.monotonic()
        await super()._send(event, record=record)


class BenchSimulator(RealtimeSimulator):
    """The realtime simulator with instrumented sessions; see the module docstring."""

    def __init__(self, **options: Any) -> None:
        options.setdefault("default_script", BENCH_SCRIPT)
        super().__init__(record_audio_events=False, **options)
        self._opened = 0

    async def _serve_session(self, ws: ServerConnection, model: str) -> None:
        self._opened += 1
        session = BenchSession(self, ws, model, self._opened)
        self.sessions.append(session)
        try:
            await session.run()
        finally:
            session.bench.closed_at = time.monotonic()


def _stock_record(index: int, session: SimSession) -> SessionRecord:
    """A SessionRecord rebuilt from a stock session's `append_times` and `sent` lists."""
    sent = list(session.sent)
    rec = SessionRecord(index=index, opened_at=sent[0][0] if sent else 0.0)
    for t, payload in list(session.append_times):
        key = frame_key(payload)
        rec.append_keys.append(key)
        rec.append_times.append(t)
        if rec.first_stream is None:
            rec.first_stream = key_stream(key)
    responses: dict[str, int] = {}

    def number(response_id: object) -> int:
        return responses.setdefault(str(response_id), len(responses) + 1)

    for t, event in sent:
        kind = event.get("type")
        if kind == DELTA and isinstance(event.get("delta"), str):
            rec.delta_keys.append(frame_key(event["delta"]))
            rec.delta_times.append(t)
            rec.delta_responses.append(number(event.get("response_id")))
        elif kind == "input_audio_buffer.speech_started":
            rec.speech_started.append(t)
        elif kind == "response.done":
            response = event.get("response")
            if isinstance(response, dict) and response.get("status") == "cancelled":
                rec.cancelled[number(response.get("id"))] = t
    return rec


def session_records(sim: RealtimeSimulator, since: float = 0.0) -> list[SessionRecord]:
    """Records of every session of `sim` (instrumented or stock), frames from `since` on."""
    records = []
    for i, session in enumerate(list(sim.sessions), start=1):
        if isinstance(session, BenchSession):
            records.append(session.bench.window(since))
        else:
            records.append(_stock_record(i, session).window(since))
    return records


async def _run(args: argparse.Namespace) -> None:
    sim = BenchSimulator(
        pace=args.pace, chunk_ms=args.chunk_ms, first_audio_delay_ms=args.first_audio_delay_ms
    )
    await sim.start(args.host, args.port)
    lags = LagRecord(role="simulator")
    probe = asyncio.get_running_loop().create_task(lag.probe(lags))

    async def handle(command: dict[str, Any]) -> dict[str, Any]:
        op = command.get("op")
        if op == "dump":
            since = float(command.get("since", 0.0))
            dump = SimDump(session_records(sim, since), lags.window(since), os.getpid())
            data = pickle.dumps(dump, protocol=5)
            await asyncio.to_thread(Path(command["path"]).write_bytes, data)
            return {"ok": True, "sessions": len(dump.sessions)}
        if op == "stats":
            live = len(list(sim.live_sessions()))
            return {"ok": True, "sessions": len(sim.sessions), "live": live}
        if op == "quit":
            return {"ok": True}
        return {"ok": False, "error": f"unknown op {op!r}"}

    control.reply(
        {
            "ok": True,
            "base_url": sim.base_url,
            "port": sim.port,
            "pid": os.getpid(),
            "loop": args.loop,
        }
    )
    try:
        await control.serve_commands(handle)
    finally:
        probe.cancel()
        await sim.stop()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.simproc", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--pace", type=float, default=4.0)
    parser.add_argument("--chunk-ms", type=int, default=100)
    parser.add_argument("--first-audio-delay-ms", type=int, default=0)
    args = parser.parse_args(argv)
    control.quiet_logs()
    args.loop = control.install_uvloop()
    asyncio.run(_run(args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
