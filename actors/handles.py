"""Every Ray API call of the engine, in one place.

The rest of the code (and its tests) never touch Ray directly: they get actor handles and
Protocol implementations from here. Named actors live in the `neurosphere` namespace:
`call_pool`, `memory:<i>`, `tenant:<uuid>`. Control-plane actors are detached (a crashed Serve
replica must not take them down) and have `num_cpus=0` (they are I/O bound; CPUs are for the
audio path). Call actors ask for the custom resource `call_slot`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import zlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import ray
import structlog

from actors.ports import CallReport, CallSetup
from engine.config import EngineConfig, MediaAddress, TenantConfig
from memory.call_records import CallEnd, CallRecord, CallStart, NewMessage, Turn

if TYPE_CHECKING:
    from actors.ports import Admission, AdmitRequest
    from memory.caller_records import JobStatus, JsonInput, SearchHit
    from prompts.context import CallerContext

log = structlog.get_logger(__name__)

NAMESPACE = "neurosphere"
POOL_NAME = "call_pool"
RAY_CALL_TIMEOUT_S = 10.0
MEMORY_PROVIDER_TIMEOUT_S = 30.0  # an embedding request on the way
MEMORY_LLM_TIMEOUT_S = 120.0  # a chat completion on the way
RECORDING_HANDOFF_TIMEOUT_S = 2.0  # the tenant actor only starts a task; Twilio waits on us
WARM_CONCURRENCY = 16  # tenant actors warmed at once when an ingress replica starts


_REMOTE_CLASSES: dict[tuple[type, str], Any] = {}


def _remote(cls: type, **options: Any) -> Any:
    """The Ray actor class for `cls` with `options`, made once per process."""
    key = (cls, repr(sorted(options.items())))
    if key not in _REMOTE_CLASSES:
        _REMOTE_CLASSES[key] = ray.remote(**options)(cls)
    return _REMOTE_CLASSES[key]


async def _await(ref: Any, timeout: float = RAY_CALL_TIMEOUT_S) -> Any:
    return await asyncio.wait_for(ref, timeout)


def init(address: str | None, *, call_slots: int, dashboard: bool) -> None:
    """Connect to (or start) Ray for the driver."""
    if ray.is_initialized():
        return
    kwargs: dict[str, Any] = {"namespace": NAMESPACE, "log_to_driver": False}
    if address:
        ray.init(address=address, **kwargs)
    else:
        # Ray starts its workers at niceness 15 (below its own daemons); call actors carry
        # real-time audio, so the local Ray runs them at normal priority (cluster.yaml too).
        os.environ.setdefault("RAY_worker_niceness", "0")
        ray.init(
            resources={"call_slot": call_slots},
            include_dashboard=dashboard,
            dashboard_host="127.0.0.1",
            **kwargs,
        )


def dashboard_url() -> str | None:
    ctx = ray.get_runtime_context() if ray.is_initialized() else None
    if ctx is None:
        return None
    url = getattr(ctx, "dashboard_url", None) or ray.worker.get_dashboard_url()
    return f"http://{url}" if url and not str(url).startswith("http") else url


def node_address() -> str:
    """This process's Ray node address (what `{host}` in MEDIA_PUBLIC_URL stands for); outside
    Ray (in-process tests) the loopback address."""
    if not ray.is_initialized():
        return "127.0.0.1"
    address: str = ray.util.get_node_ip_address()  # type: ignore[no-untyped-call]
    return address


def shutdown() -> None:
    if ray.is_initialized():
        ray.shutdown()


# --- named control-plane actors ------------------------------------------------------------------


def memory_actors(config: EngineConfig) -> list[Any]:
    from actors.memory_actor import MemoryActor

    cls = _remote(MemoryActor, num_cpus=0, max_restarts=-1, max_task_retries=3)
    return [
        cls.options(
            name=f"memory:{i}", namespace=NAMESPACE, get_if_exists=True, lifetime="detached"
        ).remote(config, i)
        for i in range(config.memory_actors)
    ]


def call_pool(config: EngineConfig) -> Any:
    from actors.call_pool import CallPool

    cls = _remote(CallPool, num_cpus=0, max_restarts=-1, max_task_retries=0)
    return cls.options(
        name=POOL_NAME, namespace=NAMESPACE, get_if_exists=True, lifetime="detached"
    ).remote(config)


def tenant_actor(config: EngineConfig, tenant_id: str) -> Any:
    from actors.tenant_actor import TenantActor

    cls = _remote(TenantActor, num_cpus=0, max_restarts=-1, max_task_retries=0)
    return cls.options(
        name=f"tenant:{tenant_id}", namespace=NAMESPACE, get_if_exists=True, lifetime="detached"
    ).remote(config, tenant_id, RayMemoryClient(memory_actors(config)), RayPool(call_pool(config)))


def _named_actor(name: str) -> Any | None:
    try:
        return ray.get_actor(name, namespace=NAMESPACE)
    except ValueError:
        return None


class NamedActors:
    """Named actors for code in an actor's event loop: each looked up once, in a thread
    (`ray.get_actor` is a blocking request to the GCS - it would stall every call's audio in
    the process), then cached. `call` retries once with a fresh lookup when the cached actor
    is gone (a tenant actor deleted and created again is a new actor under the same name)."""

    def __init__(self) -> None:
        self._found: dict[str, Any] = {}

    async def get(self, name: str) -> Any | None:
        handle = self._found.get(name)
        if handle is None:
            handle = await asyncio.to_thread(_named_actor, name)
            if handle is not None:
                self._found[name] = handle
        return handle

    async def call(self, name: str, method: str, *args: Any, timeout: float) -> Any:
        """`name.method(*args)`; RuntimeError when no such actor is running."""
        for attempt in (0, 1):
            handle = await self.get(name)
            if handle is None:
                raise RuntimeError(f"actor {name} is not running")
            try:
                return await _await(getattr(handle, method).remote(*args), timeout)
            except ray.exceptions.RayActorError:
                self._found.pop(name, None)
                if attempt:
                    raise
        raise AssertionError("unreachable")


def spawn_call_actor(config: EngineConfig) -> Any:
    from actors.call_actor import CallActor

    # A node's call_slot resource counts calls: an actor books one per call it can serve.
    slots = {"call_slot": config.calls_per_actor}
    cls = _remote(CallActor, num_cpus=0, resources=slots, max_restarts=0)
    lifecycle = RayCallLifecycle(config)
    return cls.options(namespace=NAMESPACE, lifetime="detached").remote(
        config, RayMemoryClient(memory_actors(config)), lifecycle, RayCallControl()
    )


def kill(handle: Any) -> None:
    ray.kill(handle, no_restart=True)


async def call(method: Any, *args: Any, timeout: float = RAY_CALL_TIMEOUT_S) -> Any:
    """`await handle.method.remote(*args)` with a timeout."""
    return await _await(method.remote(*args), timeout)


# --- Protocol implementations over handles -------------------------------------------------------


class RayMemoryClient:
    """MemoryClient over the memory actor pool; one call's requests go to one actor."""

    def __init__(self, handles: Sequence[Any]) -> None:
        self._handles = list(handles)

    def _pick(self, key: str) -> Any:
        return self._handles[zlib.crc32(key.encode()) % len(self._handles)]

    async def ping(self) -> None:
        await asyncio.gather(*(_await(handle.ping.remote(), 10.0) for handle in self._handles))

    async def start_call(self, token: str, call: CallStart) -> None:
        await _await(self._pick(call.call_sid).start_call.remote(token, call))

    async def stream_connected(self, token: str, call_sid: str, stream_sid: str) -> None:
        await _await(self._pick(call_sid).stream_connected.remote(token, call_sid, stream_sid))

    async def append_turns(self, token: str, call_sid: str, turns: Sequence[Turn]) -> None:
        await _await(self._pick(call_sid).append_turns.remote(token, call_sid, list(turns)))

    async def finish_call(self, token: str, call_sid: str, end: CallEnd) -> None:
        await _await(self._pick(call_sid).finish_call.remote(token, call_sid, end))

    async def load_turns(self, token: str, call_sid: str) -> list[Turn]:
        result: list[Turn] = await _await(self._pick(call_sid).load_turns.remote(token, call_sid))
        return result

    async def get_call(self, token: str, call_sid: str) -> CallRecord | None:
        result: CallRecord | None = await _await(
            self._pick(call_sid).get_call.remote(token, call_sid)
        )
        return result

    async def take_message(self, token: str, message: NewMessage) -> str:
        message_id: str = await _await(self._handles[0].take_message.remote(token, message))
        return message_id

    async def load_tenant_config(self, token: str) -> TenantConfig | None:
        result: TenantConfig | None = await _await(
            self._handles[0].load_tenant_config.remote(token)
        )
        return result

    # Caller memory. A caller's requests go to one actor (its agenda-vector cache is warm there);
    # LLM-backed methods get longer timeouts than the database-only ones.

    async def caller_context(
        self, token: str, caller_number: str, *, agenda: str = "", k: int = 8
    ) -> CallerContext:
        result: CallerContext = await _await(
            self._pick(caller_number).caller_context.remote(
                token, caller_number, agenda=agenda, k=k
            )
        )
        return result

    async def remember(
        self,
        token: str,
        caller_number: str,
        call_sid: str,
        memory_type: str,
        key: str,
        value: JsonInput,
        ttl_days: int | None = None,
    ) -> None:
        await _await(
            self._pick(caller_number).remember.remote(
                token, caller_number, call_sid, memory_type, key, value, ttl_days
            ),
            MEMORY_PROVIDER_TIMEOUT_S,
        )

    async def consolidate(
        self, token: str, caller_number: str, call_sid: str, turns: Sequence[Turn]
    ) -> int:
        stored: int = await _await(
            self._pick(caller_number).consolidate.remote(
                token, caller_number, call_sid, list(turns)
            ),
            MEMORY_LLM_TIMEOUT_S,
        )
        return stored

    async def enqueue_post_call(self, token: str, call_sid: str, caller_number: str) -> None:
        await _await(
            self._pick(caller_number).enqueue_post_call.remote(token, call_sid, caller_number)
        )

    async def post_call_status(self, token: str, call_sid: str) -> JobStatus | None:
        result: JobStatus | None = await _await(
            self._pick(call_sid).post_call_status.remote(token, call_sid)
        )
        return result

    async def search(
        self, token: str, caller_number: str | None, query: str, k: int = 5
    ) -> list[SearchHit]:
        hits: list[SearchHit] = await _await(
            self._pick(caller_number or query).search.remote(token, caller_number, query, k),
            MEMORY_PROVIDER_TIMEOUT_S,
        )
        return hits

    async def forget_caller(self, token: str, caller_number: str) -> None:
        await _await(
            self._pick(caller_number).forget_caller.remote(token, caller_number),
            MEMORY_PROVIDER_TIMEOUT_S,
        )


class RayPool:
    """CallClaimer over the call pool actor."""

    def __init__(self, handle: Any) -> None:
        self._handle = handle

    async def claim(self, setup: CallSetup) -> str:
        url: str = await _await(self._handle.claim.remote(setup), 15.0)
        return url


class RayCallLifecycle:
    """CallLifecycle for a call actor running in Ray: tell the tenant and the pool."""

    def __init__(self, config: EngineConfig) -> None:
        self._config = config
        self._named = NamedActors()

    async def call_ended(self, report: CallReport) -> None:
        me = ray.get_runtime_context().current_actor
        with contextlib.suppress(RuntimeError):  # no tenant actor: nothing holds the call
            await self._named.call(
                f"tenant:{report.tenant_id}", "release", report.call_sid, timeout=RAY_CALL_TIMEOUT_S
            )
        await self._named.call(POOL_NAME, "call_ended", report, me, timeout=RAY_CALL_TIMEOUT_S)


class RayCallControl:
    """CallControl for call actors in Ray: the tenant actor performs the REST request."""

    def __init__(self) -> None:
        self._named = NamedActors()

    async def hang_up(self, tenant_id: str, call_sid: str) -> None:
        await self._named.call(f"tenant:{tenant_id}", "hang_up", call_sid, timeout=15.0)

    async def transfer(self, tenant_id: str, call_sid: str, number: str) -> None:
        await self._named.call(f"tenant:{tenant_id}", "transfer", call_sid, number, timeout=15.0)


class RayCallActorFactory:
    """How the pool starts call actors."""

    def __init__(self, config: EngineConfig) -> None:
        self._config = config

    def spawn(self) -> Any:
        return spawn_call_actor(self._config)

    async def start(self, handle: Any) -> MediaAddress:
        address: MediaAddress = await _await(handle.start.remote(), 30.0)
        return address

    async def prepare(self, handle: Any, setup: CallSetup) -> str:
        url: str = await _await(handle.prepare.remote(setup))
        return url

    async def recycle(self, handle: Any, call_sid: str) -> bool:
        ready: bool = await _await(handle.recycle.remote(call_sid), 15.0)
        return ready

    def kill(self, handle: Any) -> None:
        kill(handle)


class RayTenantGateway:
    """TenantGateway for the Serve ingress: tenant actors by name, created on first use."""

    def __init__(self, config: EngineConfig) -> None:
        self._config = config
        self._tenants: dict[str, Any] = {}
        self._named = NamedActors()

    async def _tenant(self, tenant_id: str) -> Any:
        """The tenant's actor, looked up (or created) once per replica, in a thread: the
        lookups are blocking requests to the GCS, one per actor the tenant actor is handed,
        and would stall every other webhook of the replica meanwhile."""
        handle = self._tenants.get(tenant_id)
        if handle is None:
            handle = await asyncio.to_thread(tenant_actor, self._config, tenant_id)
            self._tenants[tenant_id] = handle
        return handle

    async def warm(self, tenant_ids: Sequence[str]) -> None:
        """Before the first webhook: each tenant's actor started or looked up, and called once.
        In a fresh replica the first webhook of a tenant otherwise paid for these (imports,
        GCS lookups, a new connection): 55-66 ms against 36 ms warmed."""
        limit = asyncio.Semaphore(WARM_CONCURRENCY)

        async def one(tenant_id: str) -> None:
            async with limit:
                try:
                    await _await((await self._tenant(tenant_id)).check_health.remote(), 20.0)
                except Exception as exc:  # its first webhook will try again
                    self._tenants.pop(tenant_id, None)
                    log.warning("tenant_warm_failed", tenant_id=tenant_id, error=repr(exc))

        await asyncio.gather(*(one(t) for t in tenant_ids))

    async def admit(self, tenant_id: str, request: AdmitRequest) -> Admission:
        tenant = await self._tenant(tenant_id)
        result: Admission = await _await(tenant.admit.remote(request), 20.0)
        return result

    async def resume(self, tenant_id: str, request: AdmitRequest) -> Admission:
        tenant = await self._tenant(tenant_id)
        result: Admission = await _await(tenant.resume.remote(request), 20.0)
        return result

    async def validate(
        self, tenant_id: str, url: str, params: dict[str, str], signature: str
    ) -> bool:
        tenant = await self._tenant(tenant_id)
        ok: bool = await _await(tenant.validate.remote(url, params, signature))
        return ok

    async def release(self, tenant_id: str, call_sid: str) -> None:
        await _await((await self._tenant(tenant_id)).release.remote(call_sid))

    async def reload(self, tenant_id: str) -> None:
        await _await((await self._tenant(tenant_id)).reload.remote())

    async def fetch_recordings(self, tenant_id: str, recording_sids: list[str]) -> None:
        await _await(
            (await self._tenant(tenant_id)).fetch_recordings.remote(recording_sids),
            RECORDING_HANDOFF_TIMEOUT_S,
        )

    async def pool_stats(self) -> dict[str, Any]:
        stats: dict[str, Any] = await self._named.call(POOL_NAME, "stats", timeout=5.0)
        return stats
