"""Matching one call's frames across the relay: a call's stream linked to the realtime sessions
that carried its audio, then every frame sent each way matched to its arrival (lost,
reordered, duplicated, late), with the drops the relay is right to make excused.
Pure (numpy).
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from bench.records import SessionRecord, StreamRecord
from bench.tags import COUNTER_BITS, MAX_STREAM, UNTAGGED
from bench.window_report import COUNTER_MASK, HANGUP_GRACE_S, LATE_MS, Direction, Samples


@dataclass(frozen=True, slots=True)
class StreamWindow:
    """One call's stream, the realtime sessions that carried its audio, and the window
    (monotonic seconds) its frames are measured in."""

    stream: StreamRecord
    sessions: list[SessionRecord]
    start: float
    end: float


def link(
    streams: Sequence[StreamRecord], sessions: Sequence[SessionRecord]
) -> dict[int, list[SessionRecord]]:
    """Stream index -> the realtime sessions that carried its audio."""
    by_stream: dict[int, list[SessionRecord]] = defaultdict(list)
    for session in sessions:
        if session.first_stream is not None:
            by_stream[session.first_stream].append(session)
    return {s.index: by_stream.get(s.index & MAX_STREAM, []) for s in streams}


def match_inbound(window: StreamWindow, out: Direction, samples: Samples) -> None:
    """caller -> model: every frame the caller sent in the window arrives once and in order as
    an append; latency = append arrival - frame send."""
    stream, sessions, start, end = window.stream, window.sessions, window.start, window.end
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


def match_outbound(window: StreamWindow, out: Direction, samples: Samples) -> None:
    """model -> caller: every delta the simulator sent arrives as a Twilio `media` frame, unless
    the relay was right to drop it (excused); latency = media arrival - delta send."""
    stream, sessions, start, end = window.stream, window.sessions, window.start, window.end
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
