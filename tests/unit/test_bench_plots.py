"""The bench's plots: every ramp step on the axis (measured or not), legends beside the data,
MiB as the one memory unit, and each picture stamped with its run's date and commit."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("matplotlib")

from bench import plots, report, report_markdown


def _window(p99: float | None) -> dict[str, Any]:
    lat = None if p99 is None else {"p50": p99 / 4, "p99": p99, "max": p99 * 2}
    return {"inbound": {"latency_ms": lat}, "outbound": {"latency_ms": lat}}


def _step(calls: int, p99: float | None, passed: bool) -> dict[str, Any]:
    return {
        "calls": calls,
        "passed": passed,
        "window": _window(p99),
        "cpu_cores": {"total engine": calls / 100},
        "uss_mb": {"active": [60.0 + calls / 100]},
    }


def _ramp() -> dict[str, Any]:
    steps = [_step(50, 3.0, True), _step(100, 8.0, True), _step(150, None, False)]
    return {
        "mode": "ramp",
        "machine": {"time": "2026-12-04 19:00:00 UTC", "git_commit": "abc1234"},
        "runs": {"engine": {"steps": steps, "p99_limit_ms": 20.0, "max_calls_held": 100}},
    }


def test_every_ramp_step_is_on_the_axis_even_one_with_no_audio_measured() -> None:
    fig, _ = plots.ramp_latency_figure(_ramp())
    latency_ax = fig.axes[0]
    assert [round(t) for t in latency_ax.get_xticks()] == [50, 100, 150]
    labels = latency_ax.get_legend_handles_labels()[1]
    assert "engine: step with no audio measured" in labels
    assert "step failed" in labels


def test_legends_stand_beside_the_axes_not_on_the_data() -> None:
    fig, _ = plots.ramp_latency_figure(_ramp())
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    for ax in fig.axes:
        legend = ax.get_legend()
        assert legend is not None
        assert legend.get_window_extent(renderer).x0 >= ax.get_window_extent(renderer).x1


def test_each_plot_names_its_run_date_and_commit(tmp_path: Path) -> None:
    paths = plots.plot_ramp(_ramp(), tmp_path / "latency.png", tmp_path / "memory.png")
    assert [p.name for p in paths] == ["latency.png", "memory.png"]
    assert plots.run_stamp(_ramp()) == "run 2026-12-04 19:00:00 UTC, commit abc1234"
    dirty = _ramp()
    dirty["machine"]["git_dirty_files"] = 3
    assert plots.run_stamp(dirty).endswith("commit abc1234 (+3 changed files)")


def test_memory_is_in_mib_everywhere() -> None:
    latest = Path(report.__file__).parent / "results" / "latest-calls.json"
    result = json.loads(latest.read_text())
    texts = [row[1] + row[2] for row in report_markdown.budget_checks(result) if "USS" in row[0]]
    assert texts
    assert all("MB" not in t.replace("MiB", "") for t in texts)
