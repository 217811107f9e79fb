"""The engine's actors in Ray: made or looked up by name, and the Protocols over their handles.

The rest of the code (and its tests) never touch Ray directly: they get actor handles and
Protocol implementations from here, and connect to Ray through actors.ray_runtime. Named actors
live in the `neurosphere` namespace: `call_pool`, `memory:<i>`, `tenant:<uuid>` (the pool and
the tenants are made in actors.control_actors). Control-plane actors are detached (a crashed
Serve replica must not take them down) and have `num_cpus=0` (they are I/O bound; CPUs are for
the audio path). Call actors ask for the custom resource `call_slot`.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import zlib
from collections.abc import Callable, Coroutine, Mapping, Sequence
from typing import Any, ClassVar

import ray
import structlog

from actors.ports import (
    CallActorFactory,
    CallClaimer,
    CallControl,
    CallReport,
    MemoryClient,
    TenantStore,
    TurnBatch,
)
from actors.ray_runtime import NAMESPACE, own_actor
from engine.config import EngineConfig

log = structlog.get_logger(__name__)

POOL_NAME = "call_pool"
RAY_CALL_TIMEOUT_S = 10.0
MEMORY_PROVIDER_TIMEOUT_S = 30.0  # an embedding request on the way
MEMORY_LLM_TIMEOUT_S = 120.0  # a chat completion on the way
# below the turn sender's own wait (actors.turn_sender.SEND_TIMEOUT_S), so a slow memory actor
# fails only the batches of its own calls
TURN_BATCHES_TIMEOUT_S = 2.5
ALIVE_TIMEOUT_S = 0.5  # a resumed call waits on this: a warm actor answers in milliseconds


_REMOTE_CLASSES: dict[tuple[type, str], Any] = {}


def actor_class(cls: type, **options: Any) -> Any:
    """The Ray actor class for `cls` with `options`, made once per process."""
    key = (cls, repr(sorted(options.items())))
    if key not in _REMOTE_CLASSES:
        _REMOTE_CLASSES[key] = ray.remote(**options)(cls)
    return _REMOTE_CLASSES[key]


async def await_ref(ref: Any, timeout: float = RAY_CALL_TIMEOUT_S) -> Any:
    return await asyncio.wait_for(ref, timeout)


# --- named control-plane actors ------------------------------------------------------------------


# Control-plane actors live on the head (with the ingress and the driver), never on a node that
# carries calls: losing such a node must not take the pool, a tenant or a memory actor along.
HEAD = {"node:__internal_head__": 0.001}


def memory_actors(config: EngineConfig) -> list[Any]:
    from actors.memory_actor import MemoryActor

    cls = actor_class(MemoryActor, num_cpus=0, resources=HEAD, max_restarts=-1, max_task_retries=3)
    return [
        cls.options(
            name=f"memory:{i}", namespace=NAMESPACE, get_if_exists=True, lifetime="detached"
        ).remote(config, i)
        for i in range(config.memory_actors)
    ]


def _named_actor(name: str) -> Any | None:
    try:
        return ray.get_actor(name, namespace=NAMESPACE)
    except ValueError:
        return None


class NamedActors:
    """Named actors for code in an actor's event loop: each looked up once, in a thread
    (`ray.get_actor` is a blocking request to the GCS - it would stall every call's audio in
    the process), then cached. Lookups of one name at once share one request: calls ending
    together in a call actor ask for their tenant's actor in the same moment, and each thread
    the loop's executor starts for them stays. `call` retries once with a fresh lookup when the
    cached actor is gone (a tenant actor deleted and created again is a new actor under the
    same name). `lookup`: how a name is found (blocking; run in a thread)."""

    def __init__(self, lookup: Callable[[str], Any | None] = _named_actor) -> None:
        self._lookup = lookup
        self._found: dict[str, Any] = {}
        self._looking: dict[str, asyncio.Future[Any | None]] = {}

    async def get(self, name: str) -> Any | None:
        handle = self._found.get(name)
        if handle is not None:
            return handle
        looking = self._looking.get(name)
        if looking is None:
            looking = asyncio.ensure_future(asyncio.to_thread(self._lookup, name))
            self._looking[name] = looking
            looking.add_done_callback(lambda done: self._looked(name, done))
        handle = await asyncio.shield(looking)  # one waiter cancelled leaves the others theirs
        if handle is not None:
            self._found[name] = handle
        return handle

    def _looked(self, name: str, done: asyncio.Future[Any | None]) -> None:
        if self._looking.get(name) is done:
            del self._looking[name]
        if not done.cancelled():
            done.exception()  # raised to its waiters; none left (all cancelled) is no error

    async def call(self, name: str, method: str, *args: Any, timeout: float) -> Any:
        """`name.method(*args)`; RuntimeError when no such actor is running."""
        for attempt in (0, 1):
            handle = await self.get(name)
            if handle is None:
                raise RuntimeError(f"actor {name} is not running")
            try:
                return await await_ref(getattr(handle, method).remote(*args), timeout)
            except ray.exceptions.RayActorError:
                self._found.pop(name, None)
                if attempt:
                    raise
        raise AssertionError("unreachable")


def spawn_call_actor(
    config: EngineConfig, avoid: frozenset[str] = frozenset(), memory: Sequence[Any] | None = None
) -> Any:
    """A new call actor; on a node not in `avoid` (Ray node ids) while another node has a free
    call slot, else anywhere. `memory`: the memory actors' handles, when the caller has them
    (else looked up by name: blocking requests to the GCS)."""
    from actors import call_process
    from actors.call_actor import CallActor

    # A node's call_slot resource counts calls: an actor books one per call it can serve.
    slots = {"call_slot": config.calls_per_actor}
    # spread over the nodes with call slots: a lost node takes as few calls as it can
    cls = actor_class(
        CallActor, num_cpus=0, resources=slots, max_restarts=0, scheduling_strategy="SPREAD"
    )
    lifecycle = RayCallLifecycle(config)
    elsewhere: dict[str, Any] = {}
    if avoid:
        key = "ray.io/node-id"  # the label Ray gives every node: its id
        elsewhere = {
            "label_selector": {key: f"!in({','.join(sorted(avoid))})"},
            "fallback_strategy": [{"label_selector": {}}],
        }
    options = {
        "namespace": NAMESPACE,
        "lifetime": "detached",
        "runtime_env": call_process.runtime_env(),
    }
    return cls.options(**options, **elsewhere).remote(
        config, RayMemoryClient(memory or memory_actors(config)), lifecycle, RayCallControl()
    )


def kill(handle: Any) -> None:
    ray.kill(handle, no_restart=True)


async def call(method: Any, *args: Any, timeout: float = RAY_CALL_TIMEOUT_S) -> Any:
    """`await handle.method.remote(*args)` with a timeout."""
    return await await_ref(method.remote(*args), timeout)


# --- Protocol implementations over handles -------------------------------------------------------


def protocol_methods(*protocols: type) -> frozenset[str]:
    """The async methods the Protocols declare (their contract across an actor boundary)."""
    return frozenset(
        name
        for protocol in protocols
        for name, value in vars(protocol).items()
        if inspect.iscoroutinefunction(value)
    )


class Forwarder:
    """A Protocol implemented over Ray: each of its async methods is forwarded, with the same
    arguments, to the actor method of the same name, awaited with a timeout (`TIMEOUTS` per
    method, else RAY_CALL_TIMEOUT_S). A subclass names its Protocols (`METHODS`) and says which
    actor takes a call (`_target`); methods it defines itself are not forwarded. So adding an
    operation touches the Protocol, the actor and its test, not this module.

    Instances are pickled into other actors: `__getattr__` reads only class attributes."""

    METHODS: ClassVar[frozenset[str]] = frozenset()
    TIMEOUTS: ClassVar[Mapping[str, float]] = {}

    async def _target(self, method: str, args: tuple[Any, ...]) -> tuple[Any, tuple[Any, ...]]:
        """The actor handle to call and the arguments it takes."""
        raise NotImplementedError

    async def _forward(
        self, method: str, args: tuple[Any, ...], kwargs: dict[str, Any], timeout: float
    ) -> Any:
        handle, sent = await self._target(method, args)
        return await await_ref(getattr(handle, method).remote(*sent, **kwargs), timeout)

    def __getattr__(self, name: str) -> Callable[..., Coroutine[Any, Any, Any]]:
        cls = type(self)
        if name not in cls.METHODS:
            raise AttributeError(f"{cls.__name__} has no attribute {name!r}")
        timeout = cls.TIMEOUTS.get(name, RAY_CALL_TIMEOUT_S)

        async def forward(*args: Any, **kwargs: Any) -> Any:
            return await self._forward(name, args, kwargs, timeout)

        forward.__name__ = name
        return forward


class RayMemoryClient(Forwarder):
    """MemoryClient (and TenantStore) over the memory actor pool. One call's requests go to one
    actor, and one caller's to one actor (its agenda-vector cache is warm there): the argument
    after the token - a call sid, a caller number, or a record with a `call_sid` - picks it."""

    METHODS = protocol_methods(MemoryClient, TenantStore) - {"ping"}
    # LLM-backed methods get longer timeouts than the database-only ones.
    TIMEOUTS: ClassVar[Mapping[str, float]] = {
        "remember": MEMORY_PROVIDER_TIMEOUT_S,  # an embedding request on the way
        "consolidate": MEMORY_LLM_TIMEOUT_S,  # a chat completion on the way
        "search_knowledge": MEMORY_PROVIDER_TIMEOUT_S,  # an embedding request on the way
        "append_turn_batches": TURN_BATCHES_TIMEOUT_S,
    }

    def __init__(self, handles: Sequence[Any]) -> None:
        self._handles = list(handles)

    def _route(self, key: str) -> int:
        return zlib.crc32(key.encode()) % len(self._handles)

    async def _target(self, method: str, args: tuple[Any, ...]) -> tuple[Any, tuple[Any, ...]]:
        key = args[1] if len(args) > 1 else None
        key = getattr(key, "call_sid", key)
        if not isinstance(key, str):
            return self._handles[0], args
        return self._handles[self._route(key)], args

    async def append_turn_batches(self, batches: Sequence[TurnBatch]) -> list[str | None]:
        """One Ray call per memory actor, each with the batches of the calls it serves (the
        same actor as the rest of each call's writes, so a spooled call stays in order); an
        actor that fails or times out fails only its own calls' batches."""
        timeout = self.TIMEOUTS.get("append_turn_batches", TURN_BATCHES_TIMEOUT_S)
        groups: dict[int, list[int]] = {}
        for i, batch in enumerate(batches):
            groups.setdefault(self._route(batch.call_sid), []).append(i)

        async def one(actor: int, indices: list[int]) -> list[str | None]:
            sent = [batches[i] for i in indices]
            try:
                ref = self._handles[actor].append_turn_batches.remote(sent)
                answers: list[str | None] = await await_ref(ref, timeout)
            except Exception as exc:
                return [repr(exc)] * len(indices)
            return answers

        answered = await asyncio.gather(*(one(a, ix) for a, ix in groups.items()))
        results: list[str | None] = [None] * len(batches)
        for indices, answers in zip(groups.values(), answered, strict=True):
            for i, answer in zip(indices, answers, strict=True):
                results[i] = answer
        return results

    async def ping(self) -> None:
        await asyncio.gather(*(await_ref(handle.ping.remote(), 10.0) for handle in self._handles))


class RayPool(Forwarder):
    """CallClaimer over the call pool actor."""

    METHODS = protocol_methods(CallClaimer)
    TIMEOUTS: ClassVar[Mapping[str, float]] = {"claim": 15.0}

    def __init__(self, handle: Any) -> None:
        self._handle = handle

    async def _target(self, method: str, args: tuple[Any, ...]) -> tuple[Any, tuple[Any, ...]]:
        return self._handle, args


class RayCallLifecycle:
    """CallLifecycle for a call actor running in Ray: tell the tenant and the pool."""

    def __init__(self, config: EngineConfig) -> None:
        self._config = config
        self._named = NamedActors()

    async def call_ended(self, report: CallReport) -> None:
        me = own_actor()
        with contextlib.suppress(RuntimeError):  # no tenant actor: nothing holds the call
            await self._named.call(
                f"tenant:{report.tenant_id}", "release", report.call_sid, timeout=RAY_CALL_TIMEOUT_S
            )
        await self._named.call(POOL_NAME, "call_ended", report, me, timeout=RAY_CALL_TIMEOUT_S)

    async def calls_live(self, reports: Sequence[CallReport]) -> None:
        await self._named.call(POOL_NAME, "calls_live", list(reports), timeout=RAY_CALL_TIMEOUT_S)


class RayCallControl(Forwarder):
    """CallControl for call actors in Ray: the tenant actor (its first argument) performs the
    REST request."""

    METHODS = protocol_methods(CallControl)
    TIMEOUTS: ClassVar[Mapping[str, float]] = {
        "hang_up": 15.0,
        "transfer": 15.0,
        "warm_transfer": 15.0,
        "set_recording": 15.0,
    }

    def __init__(self) -> None:
        self._named = NamedActors()

    async def _forward(
        self, method: str, args: tuple[Any, ...], kwargs: dict[str, Any], timeout: float
    ) -> Any:
        tenant_id, *rest = args
        return await self._named.call(f"tenant:{tenant_id}", method, *rest, timeout=timeout)


class RayCallActorFactory(Forwarder):
    """How the pool starts call actors: the handle is the first argument."""

    METHODS = protocol_methods(CallActorFactory) - {"alive"}  # alive: check_health, see below
    TIMEOUTS: ClassVar[Mapping[str, float]] = {"start": 30.0, "recycle": 15.0, "shutdown": 20.0}

    def __init__(self, config: EngineConfig) -> None:
        self._config = config
        self._memory: list[Any] | None = None

    async def _target(self, method: str, args: tuple[Any, ...]) -> tuple[Any, tuple[Any, ...]]:
        return args[0], args[1:]

    def spawn(self, avoid: frozenset[str] = frozenset()) -> Any:
        """A new call actor. The memory actors are looked up by name once: each lookup is a
        blocking request to the GCS in the pool's event loop, where claims wait on it (two per
        actor start were 8.5% of the pool's CPU samples in a burst with starts). Their handles
        stay good: the memory actors are restarted in place and go only with Ray."""
        if self._memory is None:
            self._memory = memory_actors(self._config)
        return spawn_call_actor(self._config, avoid, self._memory)

    async def alive(self, handle: Any) -> bool:
        try:
            await await_ref(handle.check_health.remote(), ALIVE_TIMEOUT_S)
        except Exception:
            return False
        return True

    def kill(self, handle: Any) -> None:
        kill(handle)
