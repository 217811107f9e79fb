"""A call's measurements: the state machine's observations counted, the set-up timeline."""

from __future__ import annotations

from engine.call_events import Observe
from engine.call_metrics import TOOL_BUCKETS_MS, CallMetrics


def test_observations_are_counted_each_in_its_own_field() -> None:
    m = CallMetrics(prepared_at=10.0)
    m.observe(Observe("greeting_ms", 420.0), 10.5)
    m.observe(Observe("turn_ms", 610.0), 12.0)
    m.observe(Observe("turn_ms", 580.0), 14.0)
    m.observe(Observe("turn_model_ms", 300.0), 14.0)
    m.observe(Observe("turn_heard_ms", 700.0), 14.5)
    m.observe(Observe("barge_in", 1), 15.0)
    m.observe(Observe("backchannel_kept_talking", 1), 15.5)
    m.observe(Observe("model_error", 1, "server_error"), 16.0)
    m.observe(Observe("protocol_error", 1, "duplicate start"), 17.0)
    m.observe(Observe("filler", 1, "take_message"), 18.0)
    assert m.greeting_ms == 420.0
    assert m.turn_ms == [610.0, 580.0]
    assert (m.turn_model_ms, m.turn_heard_ms) == ([300.0], [700.0])
    assert (m.barge_ins, m.backchannels_kept_talking) == (1, 1)
    m.observe(Observe("filler", 1, "take_message"), 19.0)
    m.observe(Observe("filler", 1, "search_knowledge"), 20.0)
    assert (m.model_errors, m.protocol_errors) == (1, 1)
    assert m.fillers == {"take_message": 2, "search_knowledge": 1}
    assert m.timeline == {"greeting_sent": 500.0}


def test_tool_latency_is_counted_by_tool_and_status() -> None:
    m = CallMetrics(prepared_at=0.0)
    m.tool_ran("take_message", "ok", 40.0)
    m.tool_ran("take_message", "ok", 1_800.0)
    m.tool_ran("take_message", "timeout", 5_004.0)
    m.tool_ran("unknown", "error", 0.3)
    assert set(m.tool_ms) == {
        ("take_message", "ok"),
        ("take_message", "timeout"),
        ("unknown", "error"),
    }
    ok = m.tool_ms[("take_message", "ok")]
    assert ok.bounds == TOOL_BUCKETS_MS
    assert (ok.total, ok.sum) == (2, 1_840.0)
    assert ok.counts[TOOL_BUCKETS_MS.index(50)] == 1
    assert ok.counts[TOOL_BUCKETS_MS.index(2_500)] == 1
    assert m.tool_ms[("take_message", "timeout")].counts[TOOL_BUCKETS_MS.index(10_000)] == 1


def test_the_timeline_keeps_the_first_time_of_each_step() -> None:
    m = CallMetrics(prepared_at=1.0)
    m.mark("model_open", 1.25)
    m.mark("model_open", 2.0)
    assert m.timeline == {"model_open": 250.0}


def test_duration_runs_from_the_streams_start_or_from_set_up_without_one() -> None:
    m = CallMetrics(prepared_at=1.0)
    assert m.duration_ms(3.0) == 2000
    m.stream_started_at = 2.5
    assert m.duration_ms(3.0) == 500
