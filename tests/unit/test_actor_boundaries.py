"""One way across each actor boundary: the Protocol in actors.ports is the contract, the actor
implements it, and actors.handles forwards it over Ray generically. These tests hold the three
together without Ray: every Protocol method exists on its actor with the same parameters, and
the forwarder routes, times out and pickles as the hand-written forwarders did."""

from __future__ import annotations

import asyncio
import inspect
import pickle
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, ClassVar

import pytest

from actors.call_actor import CallActor
from actors.call_pool import CallPool
from actors.control_actors import RayTenantGateway
from actors.handles import (
    Forwarder,
    RayCallActorFactory,
    RayCallControl,
    RayMemoryClient,
    RayPool,
    protocol_methods,
)
from actors.memory_actor import MemoryActor
from actors.ports import (
    CallActorFactory,
    CallClaimer,
    CallControl,
    MemoryClient,
    TenantGateway,
    TenantStore,
    TurnBatch,
)
from actors.tenant_actor import TenantActor
from memory.call_records import CallStart, NewMessage, Turn


def _params(fn: Callable[..., Any], routed: int) -> list[tuple[str, Any]]:
    """(name, kind) of the parameters an actor method receives: no self, and not the
    `routed` leading arguments the forwarder uses to pick the actor. Once a class has been made
    a Ray actor class in this process, Ray's tracing adds `_ray_trace_ctx` to its methods'
    signatures; that is Ray's, not the contract's."""
    params = list(inspect.signature(fn).parameters.values())[1 + routed :]
    return [(p.name, p.kind) for p in params if p.name != "_ray_trace_ctx"]


# (contract, actor class, leading arguments that only pick the actor, forwarder)
BOUNDARIES: list[tuple[tuple[type, ...], type, int, type[Forwarder]]] = [
    ((MemoryClient, TenantStore), MemoryActor, 0, RayMemoryClient),
    ((CallClaimer,), CallPool, 0, RayPool),
    ((CallControl,), TenantActor, 1, RayCallControl),
    ((TenantGateway,), TenantActor, 1, RayTenantGateway),
    ((CallActorFactory,), CallActor, 1, RayCallActorFactory),
]


@pytest.mark.parametrize(
    ("contract", "actor", "routed", "forwarder"),
    BOUNDARIES,
    ids=lambda v: getattr(v, "__name__", ""),
)
def test_every_contract_method_is_an_actor_method_with_the_same_parameters(
    contract: tuple[type, ...], actor: type, routed: int, forwarder: type[Forwarder]
) -> None:
    forwarded = forwarder.METHODS
    assert forwarded <= protocol_methods(*contract)
    # What the forwarder does not forward, it implements itself.
    for name in protocol_methods(*contract) - forwarded:
        assert name in vars(forwarder), name
    for name in forwarded:
        declared = next(vars(p)[name] for p in contract if name in vars(p))
        implemented = getattr(actor, name, None)
        assert implemented is not None, f"{actor.__name__} lacks {name}"
        assert inspect.iscoroutinefunction(implemented), name
        assert _params(implemented, 0) == _params(declared, routed), name
    assert set(forwarder.TIMEOUTS) <= forwarded


class _Method:
    def __init__(self, handle: FakeHandle, name: str) -> None:
        self._handle, self._name = handle, name

    def remote(self, *args: Any, **kwargs: Any) -> Any:
        self._handle.calls.append((self._name, args, kwargs))
        return self._handle.answer(self._name)


class FakeHandle:
    """Stands where a Ray actor handle stands: `handle.method.remote(...)` is awaitable."""

    def __init__(self, index: int, *, hang: bool = False) -> None:
        self.index = index
        self.hang = hang
        self.calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []

    def __getattr__(self, name: str) -> _Method:
        if name.startswith("_"):
            raise AttributeError(name)
        return _Method(self, name)

    async def answer(self, name: str) -> Any:
        if self.hang:
            await asyncio.Event().wait()
        return (self.index, name)


def _served_by(handles: list[FakeHandle]) -> list[int]:
    return [h.index for h in handles for _ in h.calls]


async def test_one_calls_requests_go_to_one_memory_actor_with_their_arguments_unchanged() -> None:
    handles = [FakeHandle(i) for i in range(5)]
    client = RayMemoryClient(handles)
    sid = "CA" + "7" * 32
    turn = Turn(0, "caller", "hello", datetime.now(UTC))
    await client.start_call("tok", CallStart(sid, "+15550001111", "+15550002222"))
    await client.append_turns("tok", sid, [turn])
    await client.take_message("tok", NewMessage(sid, "+15550001111", "a callback"))
    assert await client.load_turns("tok", sid) is not None
    (busy,) = [h for h in handles if h.calls]
    assert [c[0] for c in busy.calls] == [
        "start_call",
        "append_turns",
        "take_message",
        "load_turns",
    ]
    assert busy.calls[1] == ("append_turns", ("tok", sid, [turn]), {})

    ctx = await client.caller_context("tok", "+15550001111", agenda="claims", k=3)
    assert ctx[1] == "caller_context"
    _, args, kwargs = next(c for h in handles for c in h.calls if c[0] == "caller_context")
    assert (args, kwargs) == (("tok", "+15550001111"), {"agenda": "claims", "k": 3})

    await client.load_tenant_config("tok")  # nothing to route by: the first actor
    assert handles[0].calls[-1][0] == "load_tenant_config"

    await client.ping()  # every actor
    assert all(h.calls[-1][0] == "ping" for h in handles)


async def test_the_route_spreads_calls_over_the_pool() -> None:
    handles = [FakeHandle(i) for i in range(4)]
    client = RayMemoryClient(handles)
    for i in range(40):
        await client.load_turns("tok", f"CA{i:032x}")
    assert len(set(_served_by(handles))) == 4


async def test_only_contract_methods_are_forwarded() -> None:
    client = RayMemoryClient([FakeHandle(0)])
    with pytest.raises(AttributeError, match="forget_caller"):
        client.forget_caller  # noqa: B018 - an admin operation, not part of the contract
    gateway = RayTenantGateway.__new__(RayTenantGateway)
    with pytest.raises(AttributeError):
        gateway.hang_up  # noqa: B018


async def test_a_forwarded_call_has_its_methods_timeout() -> None:
    class Quick(RayMemoryClient):
        TIMEOUTS: ClassVar[dict[str, float]] = {"load_turns": 0.05}

    client = Quick([FakeHandle(0, hang=True)])
    with pytest.raises(TimeoutError):
        await client.load_turns("tok", "CA" + "1" * 32)
    assert RayMemoryClient.TIMEOUTS["consolidate"] > RayMemoryClient.TIMEOUTS["remember"] > 10


async def test_the_pool_and_factory_forward_to_the_handle_they_are_given() -> None:
    pool, actor = FakeHandle(1), FakeHandle(2)
    assert await RayPool(pool).claim("setup") == (1, "claim")
    factory = RayCallActorFactory.__new__(RayCallActorFactory)
    assert await factory.recycle(actor, "CA1") == (2, "recycle")
    assert actor.calls == [("recycle", ("CA1",), {})]


def test_forwarders_survive_pickling_into_another_actor() -> None:
    sent = pickle.dumps(RayMemoryClient([FakeHandle(0), FakeHandle(1)]))
    client = pickle.loads(sent)  # noqa: S301 - our own bytes, as Ray ships actor arguments
    assert isinstance(client, RayMemoryClient)
    assert asyncio.run(client.load_tenant_config("tok")) == (0, "load_tenant_config")


class FakeNamed:
    """Stands where handles.NamedActors stands: records `name.method(*args)` calls."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, tuple[Any, ...], float]] = []

    async def call(self, name: str, method: str, *args: Any, timeout: float) -> Any:
        self.calls.append((name, method, args, timeout))
        return None


async def test_call_control_goes_to_the_calls_tenant_actor_by_name() -> None:
    control = RayCallControl.__new__(RayCallControl)
    named = FakeNamed()
    control._named = named  # type: ignore[assignment]
    await control.hang_up("t-1", "CA1")
    await control.transfer("t-2", "CA2", "+15550003333")
    assert named.calls == [
        ("tenant:t-1", "hang_up", ("CA1",), 15.0),
        ("tenant:t-2", "transfer", ("CA2", "+15550003333"), 15.0),
    ]


def test_the_pool_looks_the_memory_actors_up_once_for_all_its_call_actors(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A lookup is a blocking request to the GCS in the pool's event loop: claims wait on it."""
    from actors import handles

    lookups: list[object] = []
    spawned: list[object] = []

    def memory_actors(config: object) -> list[str]:
        lookups.append(config)
        return ["memory:0", "memory:1"]

    def spawn(config: object, avoid: frozenset[str], memory: list[str] | None) -> str:
        spawned.append(memory)
        return f"actor-{len(spawned)}"

    monkeypatch.setattr(handles, "memory_actors", memory_actors)
    monkeypatch.setattr(handles, "spawn_call_actor", spawn)
    factory = RayCallActorFactory.__new__(RayCallActorFactory)
    factory._config = object()  # type: ignore[assignment]
    factory._memory = None
    assert [factory.spawn(), factory.spawn(frozenset({"n1"}))] == ["actor-1", "actor-2"]
    assert len(lookups) == 1
    assert spawned == [["memory:0", "memory:1"]] * 2


class BatchHandle(FakeHandle):
    """Answers `append_turn_batches` per batch: refused for the tokens in `refuse`; or the
    whole call fails (`down`)."""

    def __init__(self, index: int, *, down: bool = False, refuse: frozenset[str] = frozenset()):
        super().__init__(index)
        self.down, self.refuse = down, refuse

    async def answer(self, name: str) -> Any:
        (batches,) = self.calls[-1][1]
        if self.down:
            raise ConnectionError("actor gone")
        return [("refused" if b.token in self.refuse else None) for b in batches]


async def test_turn_batches_go_as_one_ray_call_per_memory_actor_each_answered_alone() -> None:
    handles = [BatchHandle(i, refuse=frozenset({"bad"})) for i in range(3)]
    client = RayMemoryClient(handles)
    now = datetime.now(UTC)
    batches = [
        TurnBatch("bad" if i == 3 else "tok", f"CA{i:032x}", (Turn(0, "caller", "hi", now),))
        for i in range(30)
    ]
    routes = [(await client._target("load_turns", ("tok", b.call_sid)))[0] for b in batches]
    answers = await client.append_turn_batches(batches)
    assert answers == [("refused" if i == 3 else None) for i in range(30)]
    for handle in handles:  # one Ray call per actor, not per call
        ((name, (sent,), _),) = handle.calls
        assert name == "append_turn_batches"
        # each actor gets the batches of the calls whose other writes it takes
        assert sent == [b for b, route in zip(batches, routes, strict=True) if route is handle]

    handles[1].down = True  # one memory actor fails: only its calls' batches fail
    answers = await client.append_turn_batches(batches)
    for i, (answer, route) in enumerate(zip(answers, routes, strict=True)):
        if route is handles[1]:
            assert answer is not None
            assert "actor gone" in answer
        else:
            assert answer == ("refused" if i == 3 else None)
