"""Turning frame records into the numbers the budgets speak of. Pure (numpy), no I/O.

Calls and realtime sessions are linked by the audio itself: the first tagged
`input_audio_buffer.append` a session receives names the stream it came from. Then, per call:

- inbound (caller -> model): every frame the caller sent in the window must arrive, once and in
  order, as an append; latency = append arrival - frame send.
- outbound (model -> caller): every audio delta the simulator sent must arrive as a Twilio
  `media` frame; latency = media arrival - delta send. Deltas the relay is *right* to drop are
  excused, and counted separately: those of a response sent after the `speech_started` that
  cancelled it (barge-in), those sent in the last 100 ms before the caller hung up or after the
  stream was gone. Deltas sent before the stream started (the engine's pre-generated greeting)
  must arrive but carry no latency: the wait for Twilio is not relay time.
- greeting: stream `start` sent -> first agent audio received; webhook: POST round trip;
  barge-in reaction: `speech_started` sent by the model -> `clear` received by the caller.

Latencies include both ends' socket and event-loop time, so they are an upper bound of what the
relay adds; the load side's own event-loop lag is reported next to them.

A window also has its timeline (p99 per second, both directions, and the simulator's lag) and,
given the times call actors were started in it, its latencies split into frames sent while one
was starting (`STARTING_S` after each start) and the rest: a new Python process importing Ray
is about a CPU-second, and on a small machine that is where the tails come from.

Here: the window as a whole (`analyse`) and its call set-up; the frame matching is
bench.frame_match, the timeline and start split bench.timeline, the report's types
bench.window_report.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from bench.frame_match import StreamWindow, link, match_inbound, match_outbound
from bench.records import LagRecord, SessionRecord, StreamRecord
from bench.timeline import per_second, start_split
from bench.window_report import (
    BARGE_MATCH_S,
    FRAME_S,
    Direction,
    Samples,
    Summary,
    WindowReport,
)


def _lag(record: LagRecord | None, start: float, end: float) -> Summary | None:
    if record is None:
        return None
    window = record.window(start, end)
    return Summary.of(np.frombuffer(window.lags, dtype=np.float64) * 1000.0)


@dataclass(frozen=True, slots=True)
class CallSetup:
    """How calls placed in a window were answered."""

    outcomes: dict[str, int]
    webhook_ms: Summary | None
    greeting_ms: Summary | None
    callbacks_failed: int = 0


def call_setup(streams: Sequence[StreamRecord], start: float, end: float) -> CallSetup:
    """Outcomes, webhook round trips, greeting latency and failed status callbacks of the
    calls placed in a window."""
    outcomes: dict[str, int] = defaultdict(int)
    webhook, greeting = [], []
    callbacks_failed = 0
    for stream in streams:
        if not start <= stream.placed_at <= end:
            continue
        outcomes[stream.outcome] += 1
        callbacks_failed += stream.callbacks_failed
        if stream.webhook_ms is not None:
            webhook.append(stream.webhook_ms)
        if stream.started_at is not None and stream.first_media_at is not None:
            greeting.append((stream.first_media_at - stream.started_at) * 1000.0)
    return CallSetup(dict(outcomes), Summary.of(webhook), Summary.of(greeting), callbacks_failed)


def analyse(
    streams: Sequence[StreamRecord],
    sessions: Sequence[SessionRecord],
    start: float,
    end: float,
    *,
    callers_lag: LagRecord | None = None,
    simulator_lag: LagRecord | None = None,
    starts: Sequence[float] | None = None,
) -> WindowReport:
    """Everything measured for frames sent between `start` and `end` (monotonic seconds);
    `starts`: when call actors were started (monotonic), for the start split."""
    links = link(streams, sessions)
    inbound, outbound = Direction(), Direction()
    in_lat, out_lat = Samples(), Samples()
    barge, jitter = [], []
    barge_counts = {"attempted": 0, "cleared": 0, "clears": 0}
    concurrent = unlinked = timeouts = 0
    violations: list[str] = []
    for stream in streams:
        started = stream.started_at
        if started is None:
            continue
        if started <= start and (stream.closed_at is None or stream.closed_at >= end):
            concurrent += 1
        mine = links.get(stream.index, [])
        if not mine and len(stream.sent_keys):
            unlinked += 1
        timeouts += stream.agent_timeouts
        violations.extend(stream.violations[:3])
        window = StreamWindow(stream, mine, start, end)
        match_inbound(window, inbound, in_lat)
        match_outbound(window, outbound, out_lat)
        sent_t = np.frombuffer(stream.sent_times, dtype=np.float64)
        sent_k = np.frombuffer(stream.sent_keys, dtype=np.int64)
        keep = (sent_t >= start) & (sent_t <= end)
        if keep.any():
            jitter.append((sent_t[keep] - (started + sent_k[keep] * FRAME_S)) * 1000.0)
        speech_started = sorted(t for s in mine for t in s.speech_started)
        clears = [t for t in stream.clears if start <= t <= end]
        barge_counts["clears"] += len(clears)
        barge_counts["attempted"] += sum(1 for t in stream.barge_ins if start <= t <= end)
        for clear in clears:
            before = [ss for ss in speech_started if clear - BARGE_MATCH_S <= ss <= clear]
            if before:
                barge.append((clear - before[-1]) * 1000.0)
                barge_counts["cleared"] += 1
    in_t, in_ms = in_lat.arrays()
    out_t, out_ms = out_lat.arrays()
    inbound.latency_ms = Summary.of(in_ms)
    outbound.latency_ms = Summary.of(out_ms)
    outbound.expected = outbound.matched + outbound.lost
    for direction in (inbound, outbound):
        direction.lossy_calls = sorted(direction.lossy_calls, key=lambda c: -c[1])[:5]
    setup = call_setup(streams, start, end)
    return WindowReport(
        start=start,
        end=end,
        concurrent_calls=concurrent,
        calls=setup.outcomes,
        callbacks_failed=setup.callbacks_failed,
        inbound=inbound,
        outbound=outbound,
        greeting_ms=setup.greeting_ms,
        webhook_ms=setup.webhook_ms,
        barge_in_ms=Summary.of(barge),
        barge_ins=barge_counts,
        send_jitter_ms=Summary.of(np.concatenate(jitter) if jitter else np.empty(0)),
        callers_lag_ms=_lag(callers_lag, start, end),
        simulator_lag_ms=_lag(simulator_lag, start, end),
        unlinked_calls=unlinked,
        agent_timeouts=timeouts,
        violations=violations[:20],
        timeline=per_second(start, end, (in_t, in_ms), (out_t, out_ms), simulator_lag),
        start_split=None
        if starts is None
        else start_split(start, end, starts, in_t, in_ms, out_t, out_ms),
    )
