"""Results on disk: one JSON document, a Markdown report (bench.report_markdown) and PNG plots
(bench.plots) per run; what they were measured on comes from bench.machine.

I/O: files under the results directory (`bench/results/` by default). Each run writes
`<stamp>-<mode>.json|.md|-latency.png|-memory.png` and copies them to `latest-<mode>.*` so a
README can point at the newest without being edited.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.plots import plot_calls, plot_ramp, plot_timeline
from bench.report_markdown import markdown

RESULTS = Path(__file__).resolve().parent / "results"


def write(result: dict[str, Any], out_dir: Path | None = None, *, plots: bool = True) -> list[Path]:
    """Write the JSON, Markdown and plots of a result; returns the paths written."""
    out = out_dir or RESULTS
    out.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    mode = result["mode"]
    base = out / f"{stamp}-{mode}"
    paths = [base.with_suffix(".json"), base.with_suffix(".md")]
    paths[0].write_text(json.dumps(result, indent=1, default=str))
    paths[1].write_text(markdown(result))
    if plots:
        latency = out / f"{stamp}-{mode}-latency.png"
        memory = out / f"{stamp}-{mode}-memory.png"
        plot = plot_calls if mode == "calls" else plot_ramp
        paths += plot(result, latency, memory)
        if mode == "calls":
            paths += plot_timeline(result, out / f"{stamp}-{mode}-timeline.png")
    for path in list(paths):
        latest = out / path.name.replace(stamp, "latest", 1)
        shutil.copyfile(path, latest)
    return paths


def summary_lines(paths: Sequence[Path]) -> str:
    return "\n".join(f"  {p}" for p in paths)


def written(markdown: str, paths: Sequence[Path]) -> str:
    """What a finished run prints: its Markdown report, then the files it wrote."""
    return "\n" + markdown + "\nwritten:\n" + summary_lines(paths) + "\n"
