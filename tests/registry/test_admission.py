"""Who may write to the registry: token, registration secret, address, bounds (over real HTTP).

Each refusal is checked twice: the answer (status, JSON error) and the catalog,
which must still route to the real instance.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from shopnet.common.registry_client import InstanceInfo, RegistryClient, RegistryError
from shopnet.errors import ConfigError
from shopnet.registry.admission import parse_subnets
from shopnet.registry.app import create_app
from shopnet.registry.config import RegistryConfig
from shopnet.registry.watches import MAX_WATCHES_PER_CLIENT
from shopnet.topology.load import default_topology
from shopnet.topology.wiring import registry_environment
from tests.support.registry import AUTH, TOKEN, bindings_of, write_bindings

REAL = {"service": "product", "address": "127.0.0.1", "port": 3001}


class Caller:
    """Plain HTTP to the registry, from a chosen loopback source address."""

    def __init__(self, server: TestServer, source: str = "127.0.0.1") -> None:
        self.base = str(server.make_url("")).rstrip("/")
        self.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(local_addr=(source, 0)))

    async def call(
        self, method: str, path: str, *, json: Any = None, headers: dict[str, str] | None = None
    ) -> tuple[int, Any]:
        async with self.session.request(
            method, self.base + path, json=json, headers=headers or {}
        ) as resp:
            return resp.status, await resp.json()

    async def close(self) -> None:
        await self.session.close()


async def start(aiohttp_server, token_file: str, **overrides: Any) -> TestServer:
    settings: dict[str, Any] = {"tokens_file": bindings_of(token_file), "sweep_seconds": 0.05}
    settings.update(overrides)
    return await aiohttp_server(create_app(RegistryConfig.from_env({}, **settings)))


@pytest.fixture
async def registry(aiohttp_server, registry_token_file: str) -> TestServer:
    return await start(aiohttp_server, registry_token_file)


@pytest.fixture
async def caller(registry: TestServer):
    caller = Caller(registry)
    yield caller
    await caller.close()


async def real_instance(caller: Caller) -> str:
    """Register product-1 as its owner would; returns the registration secret."""
    status, data = await caller.call("PUT", "/v1/instances/product-1", json=REAL, headers=AUTH)
    assert status == 200, data
    return data["secret"]


async def routed(caller: Caller) -> list[tuple[str, str, int]]:
    _, data = await caller.call("GET", "/v1/services/product")
    return [(i["id"], i["address"], i["port"]) for i in data["instances"]]


def error_code(data: Any) -> str:
    return data["error"]["code"]


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}, {"X-Registry-Secret": "x"}],
)
async def test_writes_without_the_token_are_401(caller: Caller, headers: dict[str, str]) -> None:
    secret = await real_instance(caller)
    forged = {**REAL, "port": 4444}
    for method, path, body in [
        ("PUT", "/v1/instances/product-1", forged),
        ("PUT", "/v1/instances/evil-1", forged),
        ("PUT", "/v1/instances/product-1/heartbeat", None),
        ("DELETE", "/v1/instances/product-1", None),
    ]:
        # Even the owner's secret is no use without the token.
        status, data = await caller.call(
            method, path, json=body, headers={**headers, "X-Registry-Secret": secret}
        )
        assert (status, error_code(data)) == (401, "unauthorized"), (method, path)
    assert await routed(caller) == [("product-1", "127.0.0.1", 3001)]


async def test_another_identity_cannot_replace_renew_or_remove(caller: Caller) -> None:
    await real_instance(caller)
    forged = {**REAL, "port": 4444}
    status, data = await caller.call("PUT", "/v1/instances/product-1", json=forged, headers=AUTH)
    assert (status, error_code(data)) == (409, "conflict")
    wrong = {**AUTH, "X-Registry-Secret": "guessed"}
    status, data = await caller.call("PUT", "/v1/instances/product-1", json=forged, headers=wrong)
    assert (status, error_code(data)) == (409, "conflict")
    for method, path in [
        ("PUT", "/v1/instances/product-1/heartbeat"),
        ("DELETE", "/v1/instances/product-1"),
    ]:
        for headers in (AUTH, wrong):
            status, data = await caller.call(method, path, headers=headers)
            assert (status, error_code(data)) == (403, "forbidden"), (method, headers)
    assert await routed(caller) == [("product-1", "127.0.0.1", 3001)]


async def test_the_owner_renews_updates_and_removes(caller: Caller) -> None:
    secret = await real_instance(caller)
    mine = {**AUTH, "X-Registry-Secret": secret}
    assert (await caller.call("PUT", "/v1/instances/product-1/heartbeat", headers=mine))[0] == 200
    moved = {**REAL, "port": 3011}
    status, data = await caller.call("PUT", "/v1/instances/product-1", json=moved, headers=mine)
    assert status == 200 and data["changed"] and "secret" not in data
    assert await routed(caller) == [("product-1", "127.0.0.1", 3011)]
    assert (await caller.call("DELETE", "/v1/instances/product-1", headers=mine))[0] == 200
    assert await routed(caller) == []


async def test_a_critical_id_can_be_taken_over(caller: Caller) -> None:
    """A restarted instance lost its secret; once the old registration stopped
    heartbeating (critical), its id is free again."""
    short = {**REAL, "ttl_seconds": 0.1}
    assert (await caller.call("PUT", "/v1/instances/product-1", json=short, headers=AUTH))[0] == 200
    await asyncio.sleep(0.2)
    status, data = await caller.call("PUT", "/v1/instances/product-1", json=REAL, headers=AUTH)
    assert status == 200 and data["secret"]
    assert await routed(caller) == [("product-1", "127.0.0.1", 3001)]


async def test_a_spoofed_address_is_refused(registry: TestServer, caller: Caller) -> None:
    """The address must be where the registration came from: from 127.0.0.2 nobody
    can announce 127.0.0.1, nor the other way round."""
    await real_instance(caller)
    status, data = await caller.call(
        "PUT", "/v1/instances/product-2", json={**REAL, "address": "127.0.0.2"}, headers=AUTH
    )
    assert (status, error_code(data)) == (403, "forbidden")
    other = Caller(registry, source="127.0.0.2")
    try:
        status, data = await other.call(
            "PUT", "/v1/instances/product-3", json={**REAL, "port": 4444}, headers=AUTH
        )
        assert (status, error_code(data)) == (403, "forbidden")
        status, _ = await other.call(
            "PUT", "/v1/instances/product-3", json={**REAL, "address": "127.0.0.2"}, headers=AUTH
        )
        assert status == 200  # its own address is fine
    finally:
        await other.close()
    assert ("product-1", "127.0.0.1", 3001) in await routed(caller)
    assert ("product-2", "127.0.0.2", 3001) not in await routed(caller)


async def test_an_address_outside_the_service_subnets_is_refused(
    aiohttp_server, registry_token_file: str
) -> None:
    registry = await start(
        aiohttp_server,
        registry_token_file,
        allowed_subnets="product=127.0.0.0/30;order=10.21.0.0/24",
    )
    caller = Caller(registry)
    try:
        assert (await caller.call("PUT", "/v1/instances/p1", json=REAL, headers=AUTH))[0] == 200
        for body in ({**REAL, "service": "order"}, {**REAL, "service": "unlisted"}):
            status, data = await caller.call("PUT", "/v1/instances/o1", json=body, headers=AUTH)
            assert (status, error_code(data)) == (403, "forbidden"), body
        _, data = await caller.call("GET", "/v1/services")
        assert set(data["services"]) == {"product"}
    finally:
        await caller.close()


@pytest.mark.parametrize(
    ("instance_id", "changes"),
    [
        ("p1", {"address": "registry.evil.example"}),
        ("p1", {"address": "127.0.0.1\r\nX-Injected: 1"}),
        ("p1", {"address": "169.254.169.254"}),
        ("p1", {"address": "127.0.0.1:80"}),
        ("p1", {"address": "0.0.0.0"}),
        ("p1", {"address": "::1"}),
        ("p1", {"port": 70000}),
        ("p1", {"port": -1}),
        ("p1", {"tags": ["a\r\nb"]}),
        ("p1", {"meta": {"k\n": "v"}}),
        ("p1%0D%0AX", {}),
        ("-p1", {}),
        ("p" * 129, {}),
    ],
)
async def test_malformed_registrations_are_400_json(
    caller: Caller, instance_id: str, changes: dict[str, Any]
) -> None:
    status, data = await caller.call(
        "PUT", f"/v1/instances/{instance_id}", json={**REAL, **changes}, headers=AUTH
    )
    assert (status, error_code(data)) == (400, "validation_failed")
    assert await routed(caller) == []


async def test_instances_are_bounded_and_made_up_watches_take_no_name(
    aiohttp_server, registry_token_file: str
) -> None:
    """Unauthenticated long-polls on made-up names used to fill `max_services`, so a real
    service's registration got 507: now they hold no name while they wait."""
    registry = await start(aiohttp_server, registry_token_file, max_instances=3, max_services=2)
    caller = Caller(registry)
    try:
        for n in (1, 2):
            path = f"/v1/instances/p{n}"
            assert (await caller.call("PUT", path, json=REAL, headers=AUTH))[0] == 200
        # product holds one name; watches of 40 made-up ones hold none …
        index = (await caller.call("GET", "/v1/services/junk1"))[1]["index"]
        polls = [
            asyncio.create_task(caller.call("GET", f"/v1/services/junk{n}?index={index}&wait=2"))
            for n in range(40)
        ]
        await asyncio.sleep(0.2)
        # … so a second real service still registers (the table's last name) …
        order = {**REAL, "service": "order"}
        assert (await caller.call("PUT", "/v1/instances/o1", json=order, headers=AUTH))[0] == 200
        # … and the bounds still hold for registrations.
        status, data = await caller.call("PUT", "/v1/instances/p3", json=REAL, headers=AUTH)
        assert (status, error_code(data)) == (507, "insufficient_storage")
        assert [status for status, _ in await asyncio.gather(*polls)] == [200] * 40
        assert [i for i, _, _ in await routed(caller)] == ["p1", "p2"]
        _, data = await caller.call("GET", "/v1/services/order")
        assert [i["id"] for i in data["instances"]] == ["o1"]
    finally:
        await caller.close()


async def test_a_watch_of_a_name_answers_once_it_is_registered(
    aiohttp_server, registry_token_file: str
) -> None:
    registry = await start(aiohttp_server, registry_token_file)
    caller = Caller(registry)
    try:
        index = (await caller.call("GET", "/v1/services/product"))[1]["index"]
        poll = asyncio.create_task(caller.call("GET", f"/v1/services/product?index={index}&wait=5"))
        await asyncio.sleep(0.1)
        started = time.monotonic()
        assert (await caller.call("PUT", "/v1/instances/p1", json=REAL, headers=AUTH))[0] == 200
        status, data = await poll
        assert status == 200 and [i["id"] for i in data["instances"]] == ["p1"]
        assert time.monotonic() - started < 1
    finally:
        await caller.close()


async def test_watches_per_client_are_bounded(aiohttp_server, registry_token_file: str) -> None:
    registry = await start(aiohttp_server, registry_token_file)
    caller = Caller(registry)
    try:
        index = (await caller.call("GET", "/v1/services/product"))[1]["index"]
        url = f"/v1/services/product?index={index}&wait=1"
        polls = [
            asyncio.create_task(caller.call("GET", url)) for _ in range(MAX_WATCHES_PER_CLIENT)
        ]
        await asyncio.sleep(0.3)
        status, data = await caller.call("GET", url)
        assert (status, error_code(data)) == (429, "too_many_watches")
        assert [status for status, _ in await asyncio.gather(*polls)] == [200] * len(polls)
        assert (await caller.call("GET", url.replace("wait=1", "wait=0.1")))[0] == 200
    finally:
        await caller.close()


def test_the_topology_gives_each_service_its_tier_subnets() -> None:
    """What the runtimes hand the registry parses, and says what the model says."""
    topology = default_topology()
    allowed = parse_subnets(registry_environment(topology)["SHOPNET_REGISTRY_ALLOWED_SUBNETS"])
    frontend, backend = (topology.tier(t).subnet for t in ("frontend", "backend"))
    assert allowed == {
        "gateway": (frontend, backend),  # docker: it reaches the registry on the backend
        "product": (backend,),
        "order": (backend,),
    }


async def test_a_restarted_instance_with_its_identity_takes_its_id_back_at_once(
    registry: TestServer,
) -> None:
    """The runtime keeps a secret per instance across restarts (SHOPNET_REGISTRATION_SECRET_FILE):
    the new process presents it and is the owner again, while a stranger still gets a 409."""
    base = str(registry.make_url("")).rstrip("/")
    info = InstanceInfo(id="product-1", service="product", address="127.0.0.1", port=3001,
                        ttl=30, deregister_after=60)  # fmt: skip
    async with aiohttp.ClientSession() as session:
        first = RegistryClient(session, base, token=TOKEN, identity="kept-across-restarts-0123")
        await first.register(info)  # then "killed": no deregistration, the entry stays passing
        restarted = RegistryClient(session, base, token=TOKEN, identity="kept-across-restarts-0123")
        await restarted.register(dataclasses.replace(info, port=3002))
        assert await restarted.heartbeat("product-1")
        stranger = RegistryClient(session, base, token=TOKEN)
        with pytest.raises(RegistryError, match="409"):
            await stranger.register(info)
        instances, _ = await restarted.lookup("product")
    assert [(i.id, i.port) for i in instances] == [("product-1", 3002)]


async def test_a_service_token_writes_only_its_own_service(aiohttp_server, tmp_path) -> None:
    """Per-service tokens (what every stack renders): a product token registers, renews and
    removes product instances only; the registry keeps their digests, not the tokens."""
    tokens = {s: f"{s}-token-of-this-test-0123456789" for s in ("product", "order", "gateway")}
    bindings = write_bindings(tmp_path, tokens)
    written = Path(bindings).read_text()  # noqa: ASYNC240 - a small file, before serving
    assert all(token not in written for token in tokens.values())
    registry = await aiohttp_server(
        create_app(RegistryConfig.from_env({}, tokens_file=bindings, sweep_seconds=0.05))
    )
    caller = Caller(registry)
    as_ = {s: {"Authorization": f"Bearer {t}"} for s, t in tokens.items()}
    try:
        order = {**REAL, "service": "order", "port": 3002}
        status, placed = await caller.call(
            "PUT", "/v1/instances/order-1", json=order, headers=as_["order"]
        )
        assert status == 200, placed
        held = {**as_["product"], "X-Registry-Secret": placed["secret"]}  # even with its secret
        forgeries = [
            ("PUT", "/v1/instances/order-9", order, as_["product"]),  # another service's name
            ("PUT", "/v1/instances/order-9", order, as_["gateway"]),
            ("PUT", "/v1/instances/order-1", REAL, held),  # an order id, under product
            ("PUT", "/v1/instances/order-1/heartbeat", None, held),
            ("DELETE", "/v1/instances/order-1", None, held),
        ]
        for method, path, body, headers in forgeries:
            status, data = await caller.call(method, path, json=body, headers=headers)
            assert (status, data["error"]["code"]) == (403, "forbidden"), (method, path, data)
        status, _ = await caller.call(
            "PUT", "/v1/instances/product-1", json=REAL, headers=as_["product"]
        )
        assert status == 200
        status, _ = await caller.call("PUT", "/v1/instances/x-1", json=REAL, headers=AUTH)
        assert status == 401  # the tests' any-service token is not bound here
        _, data = await caller.call("GET", "/v1/services/order")
        assert [(i["id"], i["port"]) for i in data["instances"]] == [("order-1", 3002)]
    finally:
        await caller.close()


def test_a_bindings_file_is_checked_at_start(tmp_path) -> None:
    bad = tmp_path / "bad"
    for text in ("product\n", "product nothex\n", f"product {'ab' * 32}\norder {'ab' * 32}\n"):
        bad.write_text(text)
        with pytest.raises(ConfigError):
            create_app(RegistryConfig.from_env({}, tokens_file=str(bad)))
