"""The tenant actor's config snapshot: one load at a time, and an admin's reload always wins."""

from __future__ import annotations

import asyncio

from actors.tenant_snapshot import TenantSnapshot
from engine.config import TenantConfig


class Store:
    """Loads `version` as it is when asked; each load is answered when its gate opens (all of
    them when `open_all`)."""

    def __init__(self) -> None:
        self.version = 1
        self.gates: list[asyncio.Event] = []
        self.open_all = False

    @property
    def loads(self) -> int:
        return len(self.gates)

    async def load(self) -> TenantConfig | None:
        asked, gate = self.version, asyncio.Event()
        self.gates.append(gate)
        if not self.open_all:
            await gate.wait()
        return TenantConfig(tenant_id="t-1", name="Agency", version=asked)


async def _settle() -> None:
    """Let the tasks started so far run up to their waits."""
    for _ in range(5):
        await asyncio.sleep(0)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_webhooks_that_find_the_snapshot_expired_share_one_load() -> None:
    store, clock = Store(), Clock()
    shown: list[TenantConfig] = []
    snapshot = TenantSnapshot(store.load, shown.append, ttl_s=30.0, clock=clock)
    waiting = [asyncio.create_task(snapshot.get()) for _ in range(20)]
    await _settle()
    store.gates[0].set()
    assert {t.version for t in await asyncio.gather(*waiting) if t is not None} == {1}
    assert store.loads == 1
    clock.now = 29.0
    await snapshot.get()
    assert store.loads == 1  # fresh enough
    clock.now = 31.0
    store.version, store.open_all = 2, True
    assert [(await snapshot.get()).version for _ in range(3)] == [2, 2, 2]  # type: ignore[union-attr]
    assert store.loads == 2
    assert [t.name for t in shown] == ["Agency", "Agency"]


async def test_a_reload_never_takes_a_load_begun_before_the_change() -> None:
    store, clock = Store(), Clock()
    snapshot = TenantSnapshot(store.load, lambda tenant: None, clock=clock)
    before = asyncio.create_task(snapshot.get())  # a webhook's load, begun before the change
    await _settle()
    assert store.loads == 1
    store.version = 2  # the admin changes the tenant's token, then reloads
    reloaded = asyncio.create_task(snapshot.reload())
    await _settle()
    assert store.loads == 2
    store.gates[1].set()  # the reload's load is answered first
    assert (await reloaded).version == 2  # type: ignore[union-attr]
    store.gates[0].set()
    assert (await before).version == 1  # type: ignore[union-attr]
    assert (await snapshot.get()).version == 2  # type: ignore[union-attr]  # not overwritten
    assert store.loads == 2


async def test_a_missing_tenant_is_asked_for_again_and_a_failed_load_is_not_kept() -> None:
    calls: list[int] = []

    async def load() -> TenantConfig | None:
        calls.append(1)
        if len(calls) == 2:
            raise ConnectionError("memory actor down")
        return None if len(calls) == 1 else TenantConfig(tenant_id="t-1", name="Agency")

    snapshot = TenantSnapshot(load, lambda tenant: None)
    assert await snapshot.get() is None
    try:
        await snapshot.get()
    except ConnectionError:
        pass
    else:
        raise AssertionError("the load's failure reaches its waiters")
    tenant = await snapshot.get()
    assert tenant is not None
    assert tenant.name == "Agency"
    assert len(calls) == 3
