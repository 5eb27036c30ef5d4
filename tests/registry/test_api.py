"""The registry over HTTP, and the client side (registration, heartbeats, watches) against it."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

from shopnet.common import registry_client
from shopnet.common.registry_client import (
    InstanceInfo,
    Registration,
    RegistryClient,
    ServiceInstance,
    ServiceWatch,
)
from shopnet.registry.app import create_app
from shopnet.registry.config import RegistryConfig
from tests.support.registry import AUTH, TOKEN, bindings_of
from tests.support.waiting import until


@pytest.fixture
async def registry(aiohttp_client, registry_token_file: str) -> TestClient:
    """A registry whose test client sends the stack token with every request."""
    cfg = RegistryConfig.from_env(
        {}, sweep_seconds=0.05, tokens_file=bindings_of(registry_token_file)
    )
    return await aiohttp_client(create_app(cfg), headers=AUTH)


def owner(secret: str) -> dict[str, str]:
    return {"X-Registry-Secret": secret}


def body(**kw: object) -> dict[str, object]:
    data: dict[str, object] = {"service": "product", "address": "127.0.0.1", "port": 3001}
    data.update(kw)
    return data


async def test_register_lookup_deregister(registry: TestClient) -> None:
    resp = await registry.put("/v1/instances/product-1", json=body(tags=["v1"]))
    assert resp.status == 200
    secret = (await resp.json())["secret"]
    resp = await registry.get("/v1/services/product")
    data = await resp.json()
    assert [i["id"] for i in data["instances"]] == ["product-1"]
    assert data["instances"][0]["tags"] == ["v1"]
    assert resp.headers["X-Registry-Index"] == str(data["index"])
    assert (await registry.delete("/v1/instances/product-1", headers=owner(secret))).status == 200
    data = await (await registry.get("/v1/services/product")).json()
    assert data["instances"] == []


async def test_heartbeat_of_unknown_instance_is_404(registry: TestClient) -> None:
    resp = await registry.put("/v1/instances/ghost/heartbeat")
    assert resp.status == 404
    assert (await resp.json())["error"]["code"] == "not_found"


async def test_ttl_expiry_over_http(registry: TestClient) -> None:
    await registry.put(
        "/v1/instances/product-1", json=body(ttl_seconds=0.2, deregister_after_seconds=0.3)
    )
    listing = await (await registry.get("/v1/instances")).json()
    assert listing["instances"][0]["status"] == "passing"
    await asyncio.sleep(0.3)
    assert (await (await registry.get("/v1/services/product")).json())["instances"] == []
    listing = await (await registry.get("/v1/instances")).json()
    assert listing["instances"][0]["status"] == "critical"
    await asyncio.sleep(0.4)
    listing = await (await registry.get("/v1/instances")).json()
    assert listing["instances"] == []


async def test_long_poll_returns_on_change(registry: TestClient) -> None:
    first = await (await registry.get("/v1/services/product")).json()
    started = time.monotonic()
    poll = asyncio.create_task(registry.get(f"/v1/services/product?index={first['index']}&wait=5"))
    await asyncio.sleep(0.1)
    assert not poll.done()
    await registry.put("/v1/instances/product-1", json=body())
    data = await (await poll).json()
    assert [i["id"] for i in data["instances"]] == ["product-1"]
    assert data["index"] > first["index"]
    assert time.monotonic() - started < 2


async def test_long_poll_times_out_with_same_index(registry: TestClient) -> None:
    first = await (await registry.get("/v1/services/product")).json()
    data = await (
        await registry.get(f"/v1/services/product?index={first['index']}&wait=0.1")
    ).json()
    assert data["index"] == first["index"]


async def test_catalog_lists_services(registry: TestClient) -> None:
    await registry.put("/v1/instances/product-1", json=body(tags=["a"]))
    await registry.put("/v1/instances/order-1", json=body(service="order", port=3002))
    catalog = (await (await registry.get("/v1/services")).json())["services"]
    assert set(catalog) == {"order", "product"}
    assert catalog["product"] == {
        "passing": 1,
        "critical": 0,
        "tags": ["a"],
        "index": catalog["product"]["index"],
    }


@pytest.mark.parametrize(
    ("path", "payload", "status"),
    [
        ("/v1/instances/p1", {"service": "product", "address": "x"}, 400),  # no port
        ("/v1/instances/p1", body(port=0), 400),
        ("/v1/instances/p1", body(port="3001"), 400),
        ("/v1/instances/p1", body(ttl_seconds=-1), 400),
        ("/v1/instances/p1", body(service="bad name"), 400),
        ("/v1/instances/p1", body(unknown=1), 400),
        ("/v1/instances/bad%20id", body(), 400),
        ("/v1/instances/p1", None, 400),
    ],
)
async def test_bad_registrations_are_400_json(
    registry: TestClient, path: str, payload: object, status: int
) -> None:
    resp = (
        await registry.put(path, json=payload)
        if payload is not None
        else await registry.put(path, data=b"{")
    )
    assert resp.status == status
    error = (await resp.json())["error"]
    assert error["code"] in {"validation_failed", "invalid_json"}
    assert error["request_id"] == resp.headers["X-Request-ID"]


async def test_bad_wait_parameter_is_400(registry: TestClient) -> None:
    resp = await registry.get("/v1/services/product?index=1&wait=soon")
    assert resp.status == 400


async def test_registration_heartbeats_and_reregisters(registry: TestClient) -> None:
    client = RegistryClient(registry.session, str(registry.make_url("/")), token=TOKEN)
    registration = Registration(
        client,
        InstanceInfo("product-9", "product", "127.0.0.1", 3001, ttl=0.3, deregister_after=0.3),
    )
    registration.start()
    await asyncio.wait_for(registration.registered.wait(), 2)
    # Alive well past its TTL: the heartbeat (TTL/3) keeps it passing.
    await asyncio.sleep(0.8)
    instances, _ = await client.lookup("product")
    assert [i.id for i in instances] == ["product-9"]
    # The registry forgets it (e.g. a registry restart): the next heartbeat gets a 404
    # and the instance registers again on its own.
    await client.deregister("product-9")
    assert (await client.lookup("product"))[0] == []

    async def back() -> bool:
        return [i.id for i in (await client.lookup("product"))[0]] == ["product-9"]

    await until(back, timeout=2)
    await registration.stop()
    instances, _ = await client.lookup("product")
    assert instances == []


class StallingClient(RegistryClient):
    """The real client, except that its first register never returns and its second is
    cancelled from inside (a timeout firing as a call returns)."""

    calls = 0

    async def register(self, instance: InstanceInfo) -> None:
        self.calls += 1
        if self.calls == 1:
            await asyncio.Event().wait()
        if self.calls == 2:
            task = asyncio.current_task()
            assert task is not None
            task.cancel()
            await asyncio.sleep(0)
        await super().register(instance)


async def test_a_stuck_or_cancelled_call_does_not_end_the_registration(
    registry: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(registry_client, "CALL_BOUND", 0.2)
    client = StallingClient(registry.session, str(registry.make_url("/")), token=TOKEN)
    registration = Registration(
        client, InstanceInfo("product-8", "product", "127.0.0.1", 3001, ttl=3, deregister_after=3)
    )
    registration.start()
    await asyncio.wait_for(registration.registered.wait(), 5)
    assert client.calls == 3
    await registration.stop()


async def test_an_instance_finds_its_address_in_the_loop(registry: TestClient) -> None:
    # A registry name that does not resolve yet (swarm start-up) is one more retried call,
    # not an exception after the server listened; a resolvable one gives the address.
    url = str(registry.make_url("/"))
    client = RegistryClient(registry.session, url, token=TOKEN)
    waiting = Registration(
        client,
        InstanceInfo("product-7", "product", "", 3001, ttl=3, deregister_after=3),
        advertise_via="http://registry.invalid:8500",
    )
    waiting.start()
    await asyncio.sleep(0.5)
    assert waiting._task is not None and not waiting._task.done()
    assert not waiting.registered.is_set()
    await waiting.stop()
    found = Registration(
        client,
        InstanceInfo("product-6", "product", "", 3001, ttl=3, deregister_after=3),
        advertise_via=url,
    )
    found.start()
    await asyncio.wait_for(found.registered.wait(), 5)
    assert found.instance.address == "127.0.0.1"
    await found.stop()


async def test_watch_follows_changes(registry: TestClient) -> None:
    client = RegistryClient(registry.session, str(registry.make_url("/")))
    seen: list[list[ServiceInstance]] = []
    watch = ServiceWatch(client, "product", seen.append, wait=5)
    watch.start()
    await asyncio.wait_for(watch.synced.wait(), 2)
    assert seen == [[]]
    resp = await registry.put("/v1/instances/product-1", json=body())
    await until(lambda: len(seen) == 2)
    assert seen[-1] == [ServiceInstance("product-1", "127.0.0.1", 3001)]
    await registry.delete("/v1/instances/product-1", headers=owner((await resp.json())["secret"]))
    await until(lambda: len(seen) == 3)
    assert seen[-1] == []
    await watch.stop()


async def test_watch_keeps_last_list_while_registry_is_down() -> None:
    async with aiohttp.ClientSession() as session:
        client = RegistryClient(session, "http://127.0.0.1:9")  # nothing listens on port 9
        seen: list[list[ServiceInstance]] = []
        watch = ServiceWatch(client, "product", seen.append, wait=1)
        watch.start()
        await asyncio.sleep(0.3)
        assert seen == []  # never told "no instances" just because the registry is away
        assert not watch.synced.is_set()
        await watch.stop()


async def test_a_trailing_newline_does_not_sneak_into_a_service_name(registry: TestClient) -> None:
    resp = await registry.put("/v1/instances/p1", json=body(service="product\n"))
    assert resp.status == 400
