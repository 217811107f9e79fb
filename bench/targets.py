"""The systems a benchmark drives: the engine, the baseline relay, or anything already running.

I/O: everything a start-up needs - the engine in this process (`engine.cli.runtime.start_engine`:
Postgres, Ray, Serve, the warm pool), the baseline relay and the realtime simulator as child
processes, tenants in Postgres, HTTP to `/metrics`.

A `Target` is what the load generator needs to call it (where to POST, what signatures cover,
the token, the numbers to dial) plus how to read its pool statistics and how to stop it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import tempfile
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.control import Child, ChildError

BENCH_TOKEN = "bench-twilio-auth-token-0123456789"  # noqa: S105 - a local benchmark tenant's
BENCH_API_KEY = "sk-bench-offline-simulator"
MAX_TENANT_CALLS = 10_000  # the schema's upper bound


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for_port(port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.1)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout:.0f} s")


def bench_numbers(count: int) -> tuple[str, ...]:
    return tuple(f"+1555019{i:04d}" for i in range(count))


@dataclass(slots=True)
class Target:
    kind: str  # engine | baseline | external
    webhook_base: str
    public_base_url: str
    auth_token: str
    to_numbers: tuple[str, ...]
    status_path: str | None
    metrics_url: str | None = None
    media_ports: tuple[int, int] | None = None
    startup: dict[str, Any] = field(default_factory=dict)
    pool_stats: Callable[[], dict[str, Any]] | None = None
    stop: Callable[[], None] = lambda: None
    extra_pids: Callable[[], list[int]] = list
    database_url: str | None = None  # the engine's (app role), to check what it wrote

    def spec(self) -> dict[str, Any]:
        """The `bench.load_spec.TargetSpec` fields, as JSON."""
        return {
            "webhook_base": self.webhook_base,
            "public_base_url": self.public_base_url,
            "auth_token": self.auth_token,
            "to_numbers": list(self.to_numbers),
            "status_path": self.status_path,
        }


def start_simulator(
    workdir: Path, *, port: int, pace: float, chunk_ms: int, first_audio_delay_ms: int
) -> tuple[Child, str]:
    """The instrumented realtime simulator as a child process; returns it and its base URL."""
    child = Child(
        "simulator",
        "bench.simproc",
        [
            "--port",
            str(port),
            "--pace",
            str(pace),
            "--chunk-ms",
            str(chunk_ms),
            "--first-audio-delay-ms",
            str(first_audio_delay_ms),
        ],
        workdir / "simulator.log",
        os.environ,
    )
    ready = child.read(60)
    return child, str(ready["base_url"])


def start_baseline(workdir: Path, realtime_base_url: str) -> tuple[Target, Child]:
    port = free_port()
    child = Child(
        "baseline",
        "bench.baseline",
        ["--port", str(port), "--openai-base-url", realtime_base_url, "--api-key", BENCH_API_KEY],
        workdir / "baseline.log",
        os.environ,
    )
    began = time.monotonic()
    child.read(60)
    wait_for_port(port, 30)
    base = f"http://127.0.0.1:{port}"
    target = Target(
        kind="baseline",
        webhook_base=base,
        public_base_url=base,
        auth_token=BENCH_TOKEN,
        to_numbers=bench_numbers(1),
        status_path=None,
        startup={"start_s": round(time.monotonic() - began, 2)},
        stop=lambda: child.stop(timeout=0.5, ask=False),
    )
    return target, child


def external_target(
    webhook_url: str,
    public_base_url: str | None,
    auth_token: str,
    numbers: tuple[str, ...],
    status_path: str | None,
) -> Target:
    base = webhook_url.rstrip("/")
    return Target(
        kind="external",
        webhook_base=base,
        public_base_url=(public_base_url or base).rstrip("/"),
        auth_token=auth_token,
        to_numbers=numbers,
        status_path=status_path,
        metrics_url=base + "/metrics",
    )


def start_engine_target(
    *,
    realtime_base_url: str,
    warm: int | None,
    calls_per_actor: int | None = 1,
    call_slots: int | None,
    tenants: int,
    media_ports: tuple[int, int],
    fill_timeout: float,
    log: Callable[[str], None],
) -> Target:
    """Start the engine in this process (as `neurosphere serve` would, offline), provision the
    bench tenants and wait until the warm pool is full. Startup times go in `startup`. `warm`,
    `calls_per_actor` or `call_slots` None: the engine's shipped default."""
    import ray

    from actors import control_actors, ray_runtime
    from engine.cli.runtime import start_engine
    from engine.settings import Settings
    from engine.sim.openai_http import OpenAIHttpSimulatorThread
    from memory.tenants import ensure_tenant

    data_dir = Path(tempfile.mkdtemp(prefix="neurosphere-bench-"))
    port = free_port()
    # Summaries and embeddings go to the OpenAI HTTP simulator (the realtime simulator serves
    # only the realtime socket), as they would to the real API.
    llm = OpenAIHttpSimulatorThread(api_keys={BENCH_API_KEY})
    values: dict[str, Any] = {
        "NEUROSPHERE_LLM_BASE_URL": llm.start(),
        "NEUROSPHERE_LLM_API_KEY": BENCH_API_KEY,
        "NEUROSPHERE_DATA_DIR": data_dir,
        "NEUROSPHERE_HTTP_PORT": port,
        "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
        "NEUROSPHERE_MEDIA_PORTS": f"{media_ports[0]}-{media_ports[1]}",
        "OPENAI_API_KEY": BENCH_API_KEY,
        "OPENAI_BASE_URL": realtime_base_url,
        "NEUROSPHERE_LOG_FORMAT": "json",
    }
    for name, value in (
        ("NEUROSPHERE_WARM_CALLS", warm),
        ("NEUROSPHERE_CALLS_PER_ACTOR", calls_per_actor),
        ("NEUROSPHERE_CALL_SLOTS", call_slots),
    ):
        if value is not None:
            values[name] = value
    settings = Settings.model_validate(values)
    warm, calls_per_actor = settings.warm_calls, settings.calls_per_actor
    began = time.monotonic()
    try:
        engine = start_engine(settings)
    except BaseException:
        ray_runtime.shutdown()  # Ray may be up although Serve or the pool failed
        llm.stop()
        shutil.rmtree(data_dir, ignore_errors=True)
        raise
    started = time.monotonic() - began

    def stop() -> None:
        engine.stop()
        llm.stop()
        server = engine.database.server
        if server is not None:
            with contextlib.suppress(Exception):
                server.cleanup()
        shutil.rmtree(data_dir, ignore_errors=True)

    postmaster: list[Any] = []  # psutil.Process, found once (the sampler asks every second)

    def postgres_pids() -> list[int]:
        """The embedded Postgres's postmaster (its backends are its children, which the
        sampler adds). Found by a scan of every process's command line, which cost the
        driver some 6 ms of CPU a second when done on each sample: now once, and again only
        when the one found has gone."""
        import psutil

        if not any(proc.is_running() for proc in postmaster):
            postmaster.clear()
            for proc in psutil.process_iter(["pid", "cmdline"]):
                cmd = " ".join(proc.info["cmdline"] or [])
                if "postgres" in cmd and str(data_dir) in cmd:
                    postmaster.append(proc)
        return [proc.pid for proc in postmaster]

    try:
        log(f"engine up in {started:.1f} s; provisioning {tenants} tenant(s)")
        numbers = bench_numbers(tenants)
        for i, number in enumerate(numbers):
            asyncio.run(
                ensure_tenant(
                    engine.database.app_url,
                    engine_secret=engine.config.jwt_secret,
                    name=f"Bench Agency {i}",
                    number=number,
                    auth_token=BENCH_TOKEN,
                    max_concurrent_calls=MAX_TENANT_CALLS,
                )
            )
        engine.warm_tenants()
        pool = control_actors.call_pool(engine.config)

        def pool_stats() -> dict[str, Any]:
            stats: dict[str, Any] = ray.get(pool.stats.remote(), timeout=30)
            return stats

        fill_began = time.monotonic()
        warm_now = 0
        while time.monotonic() - fill_began < fill_timeout:
            warm_now = int(pool_stats()["warm"])
            if warm_now >= warm:
                break
            time.sleep(1.0)
        filled = time.monotonic() - began
        log(f"warm pool {warm_now}/{warm} after {filled:.1f} s from start")
    except BaseException:
        stop()
        raise

    return Target(
        kind="engine",
        webhook_base=engine.webhook_base,
        public_base_url=engine.config.public_base_url,
        auth_token=BENCH_TOKEN,
        to_numbers=numbers,
        status_path="/twilio/status",
        metrics_url=engine.webhook_base + "/metrics",
        media_ports=media_ports,
        startup={
            "engine_start_s": round(started, 2),
            "pool_full_s": round(filled, 2),
            "warm_target": warm,
            "calls_per_actor": calls_per_actor,
            "warm_reached": warm_now,
        },
        pool_stats=pool_stats,
        stop=stop,
        extra_pids=postgres_pids,
        database_url=engine.database.app_url,
    )


def scrape_metrics(
    url: str | None, log: Callable[[str], None] | None = None
) -> dict[str, Any] | None:
    """The claim-time and engine-side audio histograms from a Prometheus `/metrics` page;
    None (and why, to `log`) when the page cannot be read."""
    if url is None:
        return None
    from prometheus_client.parser import text_string_to_metric_families

    try:
        with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - local URL
            text = response.read().decode()
    except (OSError, ValueError) as exc:
        if log is not None:
            log(f"could not read {url}: {exc!r}")
        return None
    wanted = {
        "neurosphere_call_claim_seconds",
        "neurosphere_greeting_seconds",
        "neurosphere_audio_inbound_seconds",
        "neurosphere_audio_outbound_seconds",
        "neurosphere_webhook_seconds",
    }
    found: dict[str, Any] = {}
    for family in text_string_to_metric_families(text):
        if family.name not in wanted:
            continue
        buckets: dict[str, float] = {}
        total = count = 0.0
        for sample in family.samples:
            if sample.name.endswith("_bucket"):
                label = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()) if k != "le")
                if label and "voice" not in label:
                    continue
                buckets[sample.labels["le"]] = buckets.get(sample.labels["le"], 0.0) + sample.value
            elif sample.name.endswith("_sum"):
                total += sample.value
            elif sample.name.endswith("_count"):
                count += sample.value
        found[family.name] = {"buckets": buckets, "sum": total, "count": count}
    return found


def histogram_delta(
    before: dict[str, Any] | None, after: dict[str, Any] | None, name: str
) -> dict[str, Any] | None:
    """What a cumulative Prometheus histogram gained between two scrapes: count, mean and the
    bucket bounds holding p50 and p99 (seconds -> milliseconds)."""
    if after is None or name not in after:
        return None
    a = after[name]
    b = (before or {}).get(name, {"buckets": {}, "sum": 0.0, "count": 0.0})
    count = a["count"] - b["count"]
    if count <= 0:
        return {"count": 0}
    bounds = sorted(a["buckets"], key=lambda le: float(le))
    cumulative = [a["buckets"][le] - b["buckets"].get(le, 0.0) for le in bounds]

    def quantile(q: float) -> float | None:
        for le, c in zip(bounds, cumulative, strict=True):
            if c >= q * count:
                return round(float(le) * 1000.0, 3)
        return None

    return {
        "count": int(count),
        "mean_ms": round((a["sum"] - b["sum"]) / count * 1000.0, 3),
        "p50_le_ms": quantile(0.5),
        "p99_le_ms": quantile(0.99),
    }


__all__ = [
    "BENCH_TOKEN",
    "ChildError",
    "Target",
    "external_target",
    "free_port",
    "histogram_delta",
    "scrape_metrics",
    "start_baseline",
    "start_engine_target",
    "start_simulator",
]
