"""The bench analysis places slow frames in time: per-second p99s (the timeline) and the split of
a window's latencies into frames sent while a call actor was starting and the rest."""

from __future__ import annotations

import pytest

from bench.analysis import analyse
from bench.records import LagRecord, SessionRecord, StreamRecord
from bench.tags import make_key

SLOW = (2.0, 2.5)  # frames sent in this span arrive 30 ms late; all others after 1 ms


def _records() -> tuple[StreamRecord, SessionRecord, LagRecord]:
    stream = StreamRecord(index=3, call_sid="CA" + "2" * 32, placed_at=0.0, started_at=0.0)
    session = SessionRecord(index=1, opened_at=0.0, first_stream=3)
    for n in range(1, 200):  # a frame every 20 ms, 0.02 s .. 3.98 s
        sent = n * 0.02
        stream.sent_keys.append(n)
        stream.sent_times.append(sent)
        session.append_keys.append(make_key(3, n))
        session.append_times.append(sent + (0.030 if SLOW[0] <= sent < SLOW[1] else 0.001))
    for i in range(1, 40):  # a delta every 100 ms; the one sent at 2.2 s arrives 12 ms late
        sent = i * 0.1
        session.delta_keys.append(make_key(1, i))
        session.delta_times.append(sent)
        session.delta_responses.append(1)
        stream.recv_keys.append(make_key(1, i))
        stream.recv_times.append(sent + (0.012 if i == 22 else 0.002))
    lag = LagRecord(role="simulator")
    for i in range(80):
        lag.times.append(i * 0.05)
        lag.lags.append(0.020 if 1.0 <= i * 0.05 < 1.1 else 0.0005)
    return stream, session, lag


def test_the_timeline_shows_the_second_the_frames_were_slow_in() -> None:
    stream, session, lag = _records()

    report = analyse([stream], [session], 0.0, 4.0, simulator_lag=lag)

    assert [p.t_s for p in report.timeline] == [0.0, 1.0, 2.0, 3.0]
    inbound = [p.inbound_p99 for p in report.timeline]
    assert inbound[2] == pytest.approx(30.0, abs=0.5)
    assert all(v == pytest.approx(1.0, abs=0.05) for v in (inbound[0], inbound[1], inbound[3]))
    outbound = [p.outbound_p99 for p in report.timeline]
    assert outbound[2] is not None
    assert outbound[2] > 10.0
    assert all(v is not None and v < 3.0 for v in (outbound[0], outbound[1], outbound[3]))
    lags = [p.simulator_lag_p99 for p in report.timeline]
    assert lags[1] == pytest.approx(20.0, abs=0.5)
    assert all(v is not None and v < 1.0 for v in (lags[0], lags[2], lags[3]))
    assert report.start_split is None  # no start times given


def test_frames_sent_while_a_call_actor_starts_are_told_apart() -> None:
    stream, session, _ = _records()

    split = analyse([stream], [session], 0.0, 4.0, starts=[1.9]).start_split

    assert split is not None
    assert split.starts == 1
    assert split.starting_s == pytest.approx(4.0 - 1.9)  # clipped at the window's end
    assert split.inbound_starting is not None
    assert split.inbound_apart is not None
    assert split.inbound_starting.max == pytest.approx(30.0, abs=0.5)
    assert split.inbound_apart.max == pytest.approx(1.0, abs=0.05)
    assert split.inbound_starting.n + split.inbound_apart.n == 199
    assert split.outbound_apart is not None
    assert split.outbound_apart.max < 3.0


def test_overlapping_and_outside_starts_count_once() -> None:
    stream, session, _ = _records()
    starts = [-10.0, 2.6, 3.0, 9.0]  # one long before, two overlapping, one after the window

    split = analyse([stream], [session], 0.0, 4.0, starts=starts).start_split

    assert split is not None
    assert split.starts == 2
    assert split.starting_s == pytest.approx(4.0 - 2.6)
    assert split.inbound_apart is not None
    assert split.inbound_apart.max == pytest.approx(30.0, abs=0.5)  # the slow span is apart
