"""The registry's catalog semantics, on a clock the test controls."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from shopnet.registry.store import Registration, Store


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def reg(instance_id: str = "product-1", **kw: Any) -> Registration:
    fields: dict[str, Any] = {
        "service": "product",
        "address": "10.0.0.1",
        "port": 3001,
        "ttl": 10.0,
        "deregister_after": 60.0,
    }
    fields.update(kw)
    return Registration(id=instance_id, **fields)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(clock: Clock) -> Store:
    return Store(clock)


def test_register_is_idempotent(store: Store) -> None:
    assert store.register(reg()) is True
    index = store.index("product")
    assert store.register(reg()) is False
    assert store.index("product") == index
    assert [r.id for r in store.passing("product")] == ["product-1"]


def test_reregister_with_new_data_bumps_index(store: Store) -> None:
    store.register(reg())
    index = store.index("product")
    assert store.register(reg(port=3011)) is True
    assert store.index("product") > index
    assert store.passing("product")[0].port == 3011


def test_ttl_expiry_hides_instance_then_heartbeat_restores(store: Store, clock: Clock) -> None:
    store.register(reg())
    clock.now += 10.5
    assert store.passing("product") == []
    index = store.index("product")
    assert store.sweep() == [("product-1", "critical")]
    assert store.index("product") > index
    assert store.instances()[0]["status"] == "critical"
    assert store.heartbeat("product-1") is True
    assert [r.id for r in store.passing("product")] == ["product-1"]


def test_heartbeat_keeps_instance_passing(store: Store, clock: Clock) -> None:
    store.register(reg())
    for _ in range(5):
        clock.now += 8
        assert store.heartbeat("product-1")
        store.sweep()
        assert store.passing("product")


def test_deregister_after_removes_critical_instance(store: Store, clock: Clock) -> None:
    store.register(reg(ttl=1.0, deregister_after=5.0))
    clock.now += 2
    assert store.sweep() == [("product-1", "critical")]
    clock.now += 3
    assert store.sweep() == []
    clock.now += 1.5
    assert store.sweep() == [("product-1", "removed")]
    assert store.instances() == []
    assert store.heartbeat("product-1") is False


def test_lookup_returns_only_passing_instances_of_that_service(store: Store, clock: Clock) -> None:
    store.register(reg("product-1"))
    store.register(reg("product-2", ttl=1.0))
    store.register(reg("order-1", service="order", port=3002))
    clock.now += 2
    assert [r.id for r in store.passing("product")] == ["product-1"]
    assert [r.id for r in store.passing("order")] == ["order-1"]
    assert store.catalog()["product"]["passing"] == 1
    assert store.catalog()["product"]["critical"] == 1


async def test_wait_returns_at_once_when_index_is_old(store: Store) -> None:
    store.register(reg())
    assert await store.wait("product", 0, timeout=5) == store.index("product")


async def test_wait_wakes_on_change(store: Store) -> None:
    index = store.index("product")
    waiter = asyncio.create_task(store.wait("product", index, timeout=5))
    await asyncio.sleep(0)
    assert not waiter.done()
    store.register(reg())
    assert await asyncio.wait_for(waiter, 1) > index


async def test_wait_times_out_without_change(store: Store) -> None:
    store.register(reg())
    index = store.index("product")
    assert await store.wait("product", index, timeout=0.05) == index


async def test_change_to_other_service_does_not_wake_watcher(store: Store) -> None:
    store.register(reg())
    index = store.index("product")
    waiter = asyncio.create_task(store.wait("product", index, timeout=0.2))
    await asyncio.sleep(0)
    store.register(reg("order-1", service="order"))
    assert await waiter == index


async def test_release_watchers_answers_pending_long_polls(store: Store) -> None:
    index = store.index("product")
    waiter = asyncio.create_task(store.wait("product", index, timeout=30))
    await asyncio.sleep(0)
    store.release_watchers()
    assert await asyncio.wait_for(waiter, 1) == index
    # and later polls do not block either
    assert await asyncio.wait_for(store.wait("product", index, timeout=30), 1) == index
