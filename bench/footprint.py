"""Call actor footprint and claim times on a real local Ray (prints numbers; not a test).

  python -m bench.footprint [--elevenlabs]

Starts the engine offline (as `neurosphere demo` does) in a temporary data dir, then reports:
USS of warm (idle) call actors, USS of a call actor in the middle of a call, the time a claim
takes with a warm pool (from the pool's own histogram) and without one (spawn + start +
prepare, what the pool does when no actor is warm). With `--elevenlabs` the tenant speaks with
an ElevenLabs voice, served by the shipped simulator (engine.sim.elevenlabs) in a thread of this
process, so the call actor's USS includes its ElevenLabs socket, contexts and greeting cache.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import statistics
import tempfile
import threading
import time
from pathlib import Path

import psutil
import ray

from actors import control_actors, handles
from actors.ports import CallSetup
from bench.profiling import pids_titled
from engine.cli import scenario
from engine.cli.common import DEMO_CALLER, DEMO_NUMBER
from engine.cli.runtime import start_engine
from engine.config import ElevenLabsVoice, TenantConfig
from engine.settings import Settings
from engine.sim.elevenlabs import ElevenLabsSimulator
from memory.db import create_pool
from memory.tenants import ensure_tenant, set_elevenlabs_voice

XI_KEY = "bench-xi-key"


def uss_mb(pid: int) -> float:
    return float(psutil.Process(pid).memory_full_info().uss) / 2**20


def call_actor_pids() -> dict[int, str]:
    """This engine's call actors (Ray names actor processes `ray::<Class>...`, and a call actor
    running a call `ray::call <CallSid> (<tenant>)`, its task's name); other Ray clusters on the
    machine are not descendants of this driver."""
    return {pid: "ray::CallActor" for pid in pids_titled("ray::CallActor")} | {
        pid: "ray::call" for pid in pids_titled("ray::call ")
    }


def serve_elevenlabs() -> ElevenLabsSimulator:
    """The ElevenLabs simulator on its own event loop in a daemon thread (this script runs
    several `asyncio.run`s)."""
    sim = ElevenLabsSimulator(api_keys={XI_KEY})
    loop = asyncio.new_event_loop()
    started = threading.Event()

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(sim.start())
        started.set()
        loop.run_forever()

    threading.Thread(target=run, name="elevenlabs-sim", daemon=True).start()
    started.wait(10)
    return sim


async def speak_with_elevenlabs(app_url: str, tenant_id: str) -> None:
    pool = await create_pool(app_url)
    try:
        await set_elevenlabs_voice(pool, tenant_id, ElevenLabsVoice("21m00Tcm4TlvDq8ikWAM"))
    finally:
        await pool.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--elevenlabs", action="store_true", help="speak with an ElevenLabs voice")
    args = parser.parse_args()
    data = Path(tempfile.mkdtemp(prefix="neurosphere-bench-"))
    options: dict[str, object] = {
        "NEUROSPHERE_DATA_DIR": data,
        "NEUROSPHERE_WARM_CALLS": 3,
        "NEUROSPHERE_HTTP_PORT": 8099,
        "PUBLIC_BASE_URL": "http://127.0.0.1:8099",
    }
    if args.elevenlabs:
        sim = serve_elevenlabs()
        options |= {"ELEVENLABS_BASE_URL": sim.base_url, "ELEVENLABS_API_KEY": XI_KEY}
    settings = Settings.model_validate(options)
    engine = start_engine(settings)
    try:
        time.sleep(2)
        idle = [uss_mb(pid) for pid in call_actor_pids()]
        print(f"idle (warm) call actors: n={len(idle)} USS MB {[round(x, 1) for x in idle]}")
        tenant_id, token = asyncio.run(
            ensure_tenant(
                engine.database.app_url,
                engine_secret=engine.config.jwt_secret,
                name="Bench",
                number=DEMO_NUMBER,
                auth_token=None,
            )
        )
        if args.elevenlabs:
            asyncio.run(speak_with_elevenlabs(engine.database.app_url, tenant_id))
        engine.warm_tenants()

        async def call_and_sample() -> float:
            await scenario.register_lines(
                engine.config.openai_base_url,
                DEMO_CALLER,
                scenario.DEMO_LINES,
                scenario.DEMO_REPLIES,
            )
            task = asyncio.create_task(
                scenario.place_and_read(
                    webhook_base=engine.webhook_base,
                    public_base_url=engine.config.public_base_url,
                    auth_token=token,
                    app_database_url=engine.database.app_url,
                    tenant_id=tenant_id,
                    from_number=DEMO_CALLER,
                    to_number=DEMO_NUMBER,
                    lines=scenario.DEMO_LINES,
                )
            )
            await asyncio.sleep(8)  # mid-call: greeting played, first turn under way
            pool = control_actors.call_pool(engine.config)
            stats = await pool.stats.remote()
            assert stats["active"] == 1, stats
            active = list(call_actor_pids())  # the active one among them, wherever it runs
            samples = [uss_mb(pid) for pid in active]
            await task
            return max(samples)

        active_uss = asyncio.run(call_and_sample())
        print(f"active call actor (mid-call, max over the call actors): USS {active_uss:.1f} MB")
        time.sleep(2)  # the finished call's actor is recycled into the warm set
        again_uss = asyncio.run(call_and_sample())
        print(f"second call (a recycled actor is used first): USS {again_uss:.1f} MB")
        if args.elevenlabs:
            print(f"ElevenLabs: {len(sim.streams)} contexts on {sim.handshakes} sockets")
        stats = ray.get(control_actors.call_pool(engine.config).stats.remote())
        _bounds, counts, total = stats["claim_ms"]
        n = sum(counts)
        print(f"warm claims: n={n} mean {total / max(n, 1):.2f} ms (pool's own timing)")

        cold = []
        for _ in range(3):
            began = time.perf_counter()
            actor = handles.spawn_call_actor(engine.config)
            ray.get(actor.start.remote())
            setup = CallSetup(
                call_sid="CA" + "f" * 32,
                tenant=TenantConfig(tenant_id=tenant_id, name="Bench"),
                from_number="+15550000000",
                to_number=DEMO_NUMBER,
                media_token=secrets.token_urlsafe(16),
                memory_token=secrets.token_urlsafe(16),
            )
            ray.get(actor.prepare.remote(setup))
            cold.append((time.perf_counter() - began) * 1000)
            handles.kill(actor)
        print(
            f"cold claims (spawn+start+prepare): {[round(c) for c in cold]} ms, "
            f"median {statistics.median(cold):.0f} ms"
        )
    finally:
        engine.stop()


if __name__ == "__main__":
    main()
