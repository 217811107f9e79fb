"""The soak's report: each minute's audio latency beside the load side's own event-loop lag,
so a late frame the load generator or the simulator caused is not read as the engine's."""

from __future__ import annotations

from typing import Any

from bench.soak_report import markdown


def soak_result(minutes: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "options": {"calls": 100, "duration": 120.0, "cycle": 10, "cycle_every": 30.0},
        "calls": {"placed": 120, "outcomes": {"ended": 120}},
        "run_s": 141.0,
        "growth": {},
        "samples": [],
        "latency_per_minute": minutes,
        "steepest_second_half": [],
        "postgres": {},
        "metrics": {},
    }


def latency(p99: float, worst: float) -> dict[str, float]:
    return {"p50": 0.4, "p99": p99, "max": worst, "n": 1000}


def test_each_minute_shows_the_load_sides_lag_beside_the_audio() -> None:
    minute = {
        "t_s": 60,
        "calls": 80,
        "inbound": latency(9.5, 41.0),
        "outbound": latency(4.1, 12.0),
        "lost": 0,
        "callers_lag": latency(21.25, 38.5),
        "simulator_lag": latency(3.0, 7.75),
    }
    text = markdown(soak_result([minute]))
    assert "| load side lag p99 / max ms: callers, simulator |" in text
    assert "| 1 | 80 | 0.4 / 9.5 | 0.4 / 4.1 | 0 | 21.2 / 38.5, 3.0 / 7.8 |" in text


def test_a_minute_without_lag_readings_says_so() -> None:
    """Results written before the lag was recorded still render."""
    minute = {"t_s": 0, "calls": 90, "inbound": None, "outbound": None, "lost": 0}
    assert "| 0 | 90 | - / - | - / - | 0 | -, - |" in markdown(soak_result([minute]))
