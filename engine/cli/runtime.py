"""Starting and stopping the whole engine from the driver (I/O: Postgres, Ray, Serve, sockets).

Order matters and is written down once here: database (embedded Postgres when DATABASE_URL is
unset: start, bootstrap roles, migrate), the offline realtime simulator when there is no
OPENAI_API_KEY (in a thread of its own, so its port is known before any actor is configured),
Ray, the memory actors and the warm call pool, then Serve with the ingress; last, the calls a
crash left open are closed from Twilio's record (actors.call_reconcile), while the webhook
already answers their `<Connect action>` and status callbacks.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog

from engine.config import EngineConfig
from engine.settings import ConfigError, Settings, engine_config
from engine.sim.sim_thread import SimulatorThread

if TYPE_CHECKING:
    from engine.sim.realtime import RealtimeSimulator

log = structlog.get_logger(__name__)

SERVE_APP = "neurosphere"
RECONCILE_TIMEOUT_S = 120.0


@dataclass(frozen=True, slots=True)
class Database:
    owner_url: str = field(repr=False)
    app_url: str = field(repr=False)
    server: Any = field(default=None, repr=False)  # keeps the embedded server alive


async def prepare_database(settings: Settings) -> Database:
    """Embedded or external Postgres, bootstrapped and migrated."""
    from memory.db_wait import wait_for_database
    from memory.embedded import Roles
    from memory.migrate import migrate

    if settings.database_url is not None:
        owner = settings.database_url.get_secret_value()
        if settings.app_database_url is None:  # Settings.problems() names this before start
            raise ValueError("NEUROSPHERE_APP_DATABASE_URL must be set with DATABASE_URL")
        app = settings.app_database_url.get_secret_value()
        roles = Roles.named(settings.db_role_prefix)
        await wait_for_database(owner)  # started next to it (compose), it may not be up yet
        await migrate(owner, engine_secret=settings.resolved_jwt_secret(), roles=roles)
        return Database(owner, app)
    from memory.embedded import bootstrap, start_embedded

    server, urls = await asyncio.to_thread(start_embedded, settings.data_dir)
    superuser = str(server.get_uri())
    await bootstrap(superuser)
    await migrate(urls.owner, engine_secret=settings.resolved_jwt_secret())
    return Database(urls.owner, urls.app, server)


def _realtime_simulator() -> RealtimeSimulator:
    """The offline realtime simulator (imported only when the engine runs without OpenAI)."""
    from engine.sim.realtime import RealtimeSimulator

    return RealtimeSimulator()


@dataclass(slots=True)
class Engine:
    settings: Settings
    config: EngineConfig
    database: Database
    webhook_base: str
    simulator: SimulatorThread[RealtimeSimulator] | None = None
    llm_simulator: Any = None  # the OpenAI HTTP simulator (summaries, extraction) when offline
    dashboard_url: str | None = None
    drained: bool = False
    reconciled: dict[str, int] = field(default_factory=dict)  # calls a crash left open, closed

    def write_runtime_file(self) -> Path:
        """Where a running engine can be found by `neurosphere call`."""
        path = self.settings.data_dir / "runtime.json"
        data = {
            "webhook_base": self.webhook_base,
            "public_base_url": self.config.public_base_url,
            "realtime_base_url": self.config.openai_base_url,
            "simulated_model": self.simulator is not None,
        }
        # with its own DATABASE_URL and JWT secret nothing else has made the data dir yet
        self.settings.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        path.write_text(json.dumps(data, indent=2))
        return path

    def _tenant_ids(self) -> list[str]:
        from memory import tenants
        from memory.db import create_pool

        async def ids() -> list[str]:
            pool = await create_pool(self.database.app_url, min_size=1, max_size=1)
            try:
                return await tenants.active_tenants(pool)
            finally:
                await pool.close()

        return asyncio.run(ids())

    def warm_tenants(self) -> int:
        """Start the actors of all active tenants (and load their config) so that no caller
        waits for an actor to start; for tenants added after the engine started (an ingress
        replica does this for those there when it starts). Returns how many there are."""
        import ray

        from actors import control_actors

        actors = [control_actors.tenant_actor(self.config, t) for t in self._tenant_ids()]
        ray.get([a.check_health.remote() for a in actors], timeout=60)
        return len(actors)

    def reconcile_calls(self, started_before: datetime) -> dict[str, int]:
        """Close the calls a crash left open that started before ``started_before`` and that no
        live call actor holds, tenant by tenant (actors.call_reconcile). A tenant that fails is
        logged and tried again at the next start."""
        import ray

        from actors import control_actors

        held = ray.get(control_actors.call_pool(self.config).active_calls.remote(), timeout=30)
        pending = {
            control_actors.tenant_actor(self.config, t).reconcile_calls.remote(
                held, started_before
            ): t
            for t in self._tenant_ids()
        }
        total: Counter[str] = Counter()
        for ref, tenant_id in pending.items():  # all running at once; a slow Twilio is bounded
            try:
                total.update(ray.get(ref, timeout=RECONCILE_TIMEOUT_S))
            except Exception as exc:
                log.error("call_reconcile_failed", tenant_id=tenant_id, error=repr(exc))
        log.info("calls_reconciled", **total)
        return dict(total)

    def drain(self) -> dict[str, int]:
        """Stop admitting calls (new callers get a polite TwiML), let live calls finish for up
        to NEUROSPHERE_DRAIN_TIMEOUT_S, then end the rest with their outcome recorded. The
        webhook keeps serving meanwhile: Twilio's status callbacks and the `<Connect action>`
        of each ended call (answered with a hang-up) still reach it."""
        import ray

        from actors import control_actors

        bound = self.settings.drain_timeout_s
        pool = control_actors.call_pool(self.config)
        result: dict[str, int] = ray.get(pool.drain.remote(bound), timeout=bound + 60)
        self.drained = True
        log.info("engine_drained", **result)
        return result

    def stop(self) -> None:
        from actors import ray_runtime

        try:
            if not self.drained:
                self.drain()
        except Exception as exc:
            log.error("drain_failed", error=repr(exc))
        try:
            from ray import serve

            # the replica stops listening and finishes the requests in flight
            serve.delete(SERVE_APP)
            if self.settings.ray_address:  # a shared cluster: leave no Serve instance behind
                serve.shutdown()  # type: ignore[no-untyped-call]
            # a local Ray goes entirely with ray.shutdown(), Serve's controller too; shutting
            # Serve down first only printed a raylet error about its own controller's exit
        except Exception as exc:
            log.warning("serve_shutdown_failed", error=repr(exc))
        ray_runtime.shutdown()
        if self.simulator is not None:
            self.simulator.stop()
        if self.llm_simulator is not None:
            self.llm_simulator.stop()
        (self.settings.data_dir / "runtime.json").unlink(missing_ok=True)


def start_engine(
    settings: Settings, *, dashboard: bool = False, actor_logs: bool = False
) -> Engine:
    """Bring everything up; returns when the webhook answers and the pool is warm."""
    from ray import serve

    from actors import control_actors, handles, ray_runtime
    from admin_api.deployment import Ingress

    problems = settings.problems()  # named before anything starts, Postgres included
    if problems:
        raise ConfigError(problems)
    began = datetime.now(UTC)  # every call row this engine makes starts after this
    database = asyncio.run(prepare_database(settings))
    config = engine_config(settings, database.app_url)
    simulator = None
    llm_simulator = None
    if settings.openai_api_key is None:
        simulator = SimulatorThread(_realtime_simulator, name="realtime-sim")
        base_url = simulator.start()
        from engine.sim.openai_http import OpenAIHttpSimulatorThread

        llm_key = "offline-simulator"
        llm_simulator = OpenAIHttpSimulatorThread(api_keys={llm_key})
        config = replace(
            config,
            openai_base_url=base_url,
            llm_base_url=llm_simulator.start(),
            llm_api_key=llm_key,
        )
        log.warning(
            "offline_realtime_simulator",
            message="OPENAI_API_KEY is not set: calls talk to the built-in offline simulator, "
            "not to a real model",
            realtime_base_url=base_url,
        )
    ray_runtime.init(
        settings.ray_address,
        call_slots=settings.ray_call_slots(),
        dashboard=dashboard,
        actor_logs=settings.log_format if actor_logs else None,
    )
    memory = handles.memory_actors(config)
    pool = control_actors.call_pool(config)
    import ray

    from actors.ports import CONTEXT_AGENDA

    ray.get([m.warm_up.remote([CONTEXT_AGENDA]) for m in memory], timeout=180)
    warm = ray.get(pool.warm_up.remote(120.0), timeout=150)
    # no Serve proxy: the ingress replica serves the webhook port itself (admin_api/listener.py)
    serve.start(proxy_location="Disabled")
    app = Ingress.bind(config, settings.http_host, settings.http_port)  # type: ignore[attr-defined]
    # no route prefix: the replica serves its port itself, and Serve then prints no "ready at"
    # line with its own proxy's address (wrong here); `serve` prints the real URLs
    serve.run(app, name=SERVE_APP, route_prefix=None)
    engine = Engine(
        settings=settings,
        config=config,
        database=database,
        webhook_base=f"http://{settings.http_host}:{settings.http_port}",
        simulator=simulator,
        llm_simulator=llm_simulator,
        dashboard_url=ray_runtime.dashboard_url() if dashboard else None,
    )
    engine.write_runtime_file()
    engine.reconciled = engine.reconcile_calls(began)
    # the tenants' actors are already up: the ingress replica reached each before it listened
    log.info("engine_started", warm_call_slots=warm, webhook_base=engine.webhook_base)
    return engine
