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
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from bench.records import LagRecord, SessionRecord, StreamRecord
from bench.tags import COUNTER_BITS, MAX_STREAM, UNTAGGED

LATE_MS = 40.0
HANGUP_GRACE_S = 0.1
BARGE_MATCH_S = 2.0
FRAME_S = 0.020
COUNTER_MASK = (1 << COUNTER_BITS) - 1
STARTING_S = 4.0  # how long a call actor's start is counted as disturbing the others


@dataclass(frozen=True, slots=True)
class Summary:
    """Distribution of a measurement, in milliseconds."""

    n: int
    p50: float
    p99: float
    max: float
    mean: float

    @staticmethod
    def of(values_ms: Iterable[float] | np.ndarray[Any, Any]) -> Summary | None:
        arr = np.asarray(
            list(values_ms) if not isinstance(values_ms, np.ndarray) else values_ms,
            dtype=np.float64,
        )
        if arr.size == 0:
            return None
        p50, p99 = np.percentile(arr, [50, 99])
        return Summary(
            n=int(arr.size),
            p50=round(float(p50), 4),
            p99=round(float(p99), 4),
            max=round(float(arr.max()), 4),
            mean=round(float(arr.mean()), 4),
        )


@dataclass(slots=True)
class _Samples:
    """Latencies of one direction with the times their frames were sent."""

    sent: list[np.ndarray[Any, Any]] = field(default_factory=list)
    ms: list[np.ndarray[Any, Any]] = field(default_factory=list)

    def add(self, sent: np.ndarray[Any, Any], ms: np.ndarray[Any, Any]) -> None:
        self.sent.append(sent)
        self.ms.append(ms)

    def arrays(self) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
        if not self.ms:
            return np.empty(0), np.empty(0)
        return np.concatenate(self.sent), np.concatenate(self.ms)


@dataclass(frozen=True, slots=True)
class TimelinePoint:
    """One second of a window: p99s in ms (None when nothing was measured in it)."""

    t_s: float  # seconds from the window's start
    inbound_p99: float | None
    outbound_p99: float | None
    simulator_lag_p99: float | None


@dataclass(frozen=True, slots=True)
class StartSplit:
    """A window's latencies split by whether a call actor was starting when the frame was
    sent (within STARTING_S after a start)."""

    starts: int
    starting_s: float  # seconds of the window with a start in progress
    inbound_starting: Summary | None
    inbound_apart: Summary | None
    outbound_starting: Summary | None
    outbound_apart: Summary | None


@dataclass(slots=True)
class Direction:
    """One direction of the audio path over a window."""

    expected: int = 0  # frames that had to arrive
    matched: int = 0
    lost: int = 0
    reordered: int = 0
    duplicated: int = 0
    late: int = 0  # matched with latency above LATE_MS
    excused: dict[str, int] = field(default_factory=dict)
    unmatched_received: int = 0  # arrivals nobody in the window sent
    latency_ms: Summary | None = None
    lossy_calls: list[tuple[str, int]] = field(default_factory=list)  # (call_sid, lost), top 5
    # A few lost frames, for diagnosis: (call_sid, ms after the stream started, ms before the
    # caller hung up or None, response number or 0).
    lost_samples: list[tuple[str, float, float | None, int]] = field(default_factory=list)


@dataclass(slots=True)
class WindowReport:
    start: float
    end: float
    concurrent_calls: int  # calls live through the whole window
    calls: dict[str, int]  # outcome -> count, for calls placed in the window
    callbacks_failed: int  # status callbacks of those calls not answered 2xx
    inbound: Direction
    outbound: Direction
    greeting_ms: Summary | None
    webhook_ms: Summary | None
    barge_in_ms: Summary | None
    barge_ins: dict[str, int]
    send_jitter_ms: Summary | None  # load side: how late frames left vs the 20 ms schedule
    callers_lag_ms: Summary | None
    simulator_lag_ms: Summary | None
    unlinked_calls: int  # live calls whose audio never reached a model session
    agent_timeouts: int
    violations: list[str]
    timeline: list[TimelinePoint] = field(default_factory=list)
    start_split: StartSplit | None = None

    @property
    def frames_lost(self) -> int:
        return self.inbound.lost + self.outbound.lost

    @property
    def frames_reordered(self) -> int:
        return self.inbound.reordered + self.outbound.reordered

    def p99_ms(self) -> float:
        """The worse of the two directions' p99 (inf when nothing was measured)."""
        values = [d.latency_ms.p99 for d in (self.inbound, self.outbound) if d.latency_ms]
        return max(values) if values else float("inf")

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["frames_lost"] = self.frames_lost
        data["frames_reordered"] = self.frames_reordered
        return data


def link(
    streams: Sequence[StreamRecord], sessions: Sequence[SessionRecord]
) -> dict[int, list[SessionRecord]]:
    """Stream index -> the realtime sessions that carried its audio."""
    by_stream: dict[int, list[SessionRecord]] = defaultdict(list)
    for session in sessions:
        if session.first_stream is not None:
            by_stream[session.first_stream].append(session)
    return {s.index: by_stream.get(s.index & MAX_STREAM, []) for s in streams}


def _inbound(
    stream: StreamRecord,
    sessions: list[SessionRecord],
    start: float,
    end: float,
    out: Direction,
    samples: _Samples,
) -> None:
    sent_t = np.frombuffer(stream.sent_times, dtype=np.float64)
    sent_k = np.frombuffer(stream.sent_keys, dtype=np.int64)
    keep = (sent_t >= start) & (sent_t <= end)
    sent_t, sent_k = sent_t[keep], sent_k[keep]
    if sent_k.size == 0:
        return
    stream_no = stream.index & MAX_STREAM
    arr_k_parts, arr_t_parts = [], []
    for session in sessions:
        keys = np.frombuffer(session.append_keys, dtype=np.int64)
        times = np.frombuffer(session.append_times, dtype=np.float64)
        mine = ((keys & UNTAGGED) == 0) & ((keys >> COUNTER_BITS) == stream_no)
        arr_k_parts.append(keys[mine] & COUNTER_MASK)
        arr_t_parts.append(times[mine])
    arr_k = np.concatenate(arr_k_parts) if arr_k_parts else np.empty(0, np.int64)
    arr_t = np.concatenate(arr_t_parts) if arr_t_parts else np.empty(0, np.float64)
    order = np.argsort(arr_t, kind="stable")
    arr_k, arr_t = arr_k[order], arr_t[order]
    first, last = int(sent_k[0]), int(sent_k[-1])
    in_range = (arr_k >= first) & (arr_k <= last)
    arr_k, arr_t = arr_k[in_range], arr_t[in_range]
    # First arrival of each counter.
    uniq, idx = np.unique(arr_k, return_index=True)
    out.duplicated += int(arr_k.size - uniq.size)
    arrival = np.full(last - first + 1, np.nan)
    arrival[uniq - first] = arr_t[idx]
    got = arrival[sent_k - first]
    ok = ~np.isnan(got)
    lost = int(sent_k.size - ok.sum())
    if lost and len(out.lost_samples) < 10 and stream.started_at is not None:
        for t in sent_t[~ok][:3]:
            before = (stream.stop_at - t) * 1000.0 if stream.stop_at is not None else None
            out.lost_samples.append(
                (
                    stream.call_sid,
                    round((t - stream.started_at) * 1000.0, 1),
                    None if before is None else round(before, 1),
                    0,
                )
            )
    out.expected += int(sent_k.size)
    out.matched += int(ok.sum())
    out.lost += lost
    if lost:
        out.lossy_calls.append((stream.call_sid, lost))
    if arr_k.size > 1:
        out.reordered += int((np.maximum.accumulate(arr_k)[:-1] > arr_k[1:]).sum())
    lat = (got[ok] - sent_t[ok]) * 1000.0
    out.late += int((lat > LATE_MS).sum())
    samples.add(sent_t[ok], lat)


def _excuse(session: SessionRecord, stream: StreamRecord, t: float, response: int) -> str | None:
    """Why the relay may legitimately not deliver a delta sent at `t`, if it may."""
    cancelled_at = session.cancelled.get(response)
    if cancelled_at is not None and any(ss <= t <= cancelled_at for ss in session.speech_started):
        return "after_barge_in"
    if stream.stop_at is not None and t >= stream.stop_at - HANGUP_GRACE_S:
        return "at_hang_up"
    if stream.closed_at is not None and t >= stream.closed_at:
        return "after_stream_closed"
    if stream.started_at is None:
        return "no_stream"
    return None


def _outbound(
    stream: StreamRecord,
    sessions: list[SessionRecord],
    start: float,
    end: float,
    out: Direction,
    samples: _Samples,
) -> None:
    pending: dict[int, deque[float]] = defaultdict(deque)
    for k, t in zip(stream.recv_keys, stream.recv_times, strict=True):
        if t >= start:
            pending[k].append(t)
    started = stream.started_at
    lost = 0
    pairs: list[tuple[float, int]] = []  # (arrival, send order) for reorder counting
    lat: list[float] = []
    sent: list[float] = []
    order = 0
    for session in sessions:
        for k, t, resp in zip(
            session.delta_keys, session.delta_times, session.delta_responses, strict=True
        ):
            if t < start or t > end:
                continue
            order += 1
            queue = pending.get(k)
            arrived = queue.popleft() if queue else None
            if arrived is not None:
                out.matched += 1
                pairs.append((arrived, order))
                if started is not None and t >= started:
                    lat.append((arrived - t) * 1000.0)
                    sent.append(t)
                continue
            reason = _excuse(session, stream, t, resp)
            if reason is not None:
                out.excused[reason] = out.excused.get(reason, 0) + 1
                continue
            lost += 1
            if len(out.lost_samples) < 10:
                after = (t - started) * 1000.0 if started is not None else float("nan")
                before = (stream.stop_at - t) * 1000.0 if stream.stop_at is not None else None
                out.lost_samples.append(
                    (
                        stream.call_sid,
                        round(after, 1),
                        None if before is None else round(before, 1),
                        resp,
                    )
                )
    out.lost += lost
    if lost:
        out.lossy_calls.append((stream.call_sid, lost))
    out.unmatched_received += sum(len(q) for q in pending.values())
    if len(pairs) > 1:
        pairs.sort()
        seq = np.array([o for _, o in pairs])
        out.reordered += int((np.maximum.accumulate(seq)[:-1] > seq[1:]).sum())
    arr = np.asarray(lat, dtype=np.float64)
    out.late += int((arr > LATE_MS).sum())
    samples.add(np.asarray(sent, dtype=np.float64), arr)


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
    in_lat, out_lat = _Samples(), _Samples()
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
        _inbound(stream, mine, start, end, inbound, in_lat)
        _outbound(stream, mine, start, end, outbound, out_lat)
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
        timeline=_timeline(start, end, (in_t, in_ms), (out_t, out_ms), simulator_lag),
        start_split=None
        if starts is None
        else _split(start, end, starts, in_t, in_ms, out_t, out_ms),
    )


def _p99(values: np.ndarray[Any, Any]) -> float | None:
    return round(float(np.percentile(values, 99)), 3) if values.size else None


def _timeline(
    start: float,
    end: float,
    inbound: tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]],
    outbound: tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]],
    simulator_lag: LagRecord | None,
    step: float = 1.0,
) -> list[TimelinePoint]:
    """p99 per `step` seconds of the window, by the time frames were sent."""
    if not np.isfinite(end) or end <= start:
        return []
    lag: tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]] = (np.empty(0), np.empty(0))
    if simulator_lag is not None:
        lag = (
            np.frombuffer(simulator_lag.times, dtype=np.float64),
            np.frombuffer(simulator_lag.lags, dtype=np.float64) * 1000.0,
        )
    edges = np.arange(start, end + step, step)
    series = []
    for times, values in (inbound, outbound, lag):
        order = np.argsort(times, kind="stable")
        series.append((values[order], np.searchsorted(times[order], edges)))

    def p99(k: int, i: int) -> float | None:
        values, cut = series[k]
        return _p99(values[cut[i] : cut[i + 1]])

    return [
        TimelinePoint(round(float(edges[i] - start), 3), p99(0, i), p99(1, i), p99(2, i))
        for i in range(len(edges) - 1)
    ]


def _split(
    start: float,
    end: float,
    starts: Sequence[float],
    in_t: np.ndarray[Any, Any],
    in_ms: np.ndarray[Any, Any],
    out_t: np.ndarray[Any, Any],
    out_ms: np.ndarray[Any, Any],
) -> StartSplit:
    spans = [(s, s + STARTING_S) for s in sorted(starts) if s < end and s + STARTING_S > start]

    def starting(times: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        mask = np.zeros(times.shape, dtype=bool)
        for a, b in spans:
            mask |= (times >= a) & (times < b)
        return mask

    covered = 0.0
    last = start
    for a, b in spans:
        a, b = max(a, last, start), min(b, end)
        if b > a:
            covered += b - a
            last = b
    m_in, m_out = starting(in_t), starting(out_t)
    return StartSplit(
        starts=len(spans),
        starting_s=round(covered, 2),
        inbound_starting=Summary.of(in_ms[m_in]),
        inbound_apart=Summary.of(in_ms[~m_in]),
        outbound_starting=Summary.of(out_ms[m_out]),
        outbound_apart=Summary.of(out_ms[~m_out]),
    )


def histogram_quantile(bounds: Sequence[float], counts: Sequence[int], q: float) -> float | None:
    """Upper bound of the bucket holding quantile `q` of a fixed-bucket histogram."""
    total = sum(counts)
    if total == 0:
        return None
    rank, seen = q * total, 0
    for i, n in enumerate(counts):
        seen += n
        if seen >= rank and n:
            return float(bounds[i]) if i < len(bounds) else float("inf")
    return float("inf")
