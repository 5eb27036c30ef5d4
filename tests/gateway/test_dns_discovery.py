"""Discovery by DNS: the pool follows the addresses a name resolves to, re-resolved.

Upstreams are real aiohttp servers on distinct loopback addresses sharing one port,
as Docker's containers share a service's port behind one name. The resolver is
the only stand-in (a table a test edits, since this machine's resolver cannot
return several addresses for a name); the system resolver itself is exercised
with `localhost`, and Docker's embedded DNS by tests/docker.
"""

from __future__ import annotations

import socket
from collections import Counter

import pytest
from aiohttp.test_utils import TestClient

from shopnet.errors import ConfigError
from shopnet.gateway.app import create_app
from shopnet.gateway.config import GatewayConfig
from shopnet.gateway.keys import DISCOVERY
from tests.gateway.conftest import Stack, Upstream, admin, wait_for_pool
from tests.support.servers import free_port

ADDRESSES = ["127.0.0.2", "127.0.0.3", "127.0.0.4"]


class Table:
    """A name → addresses table standing in for DNS (NXDOMAIN when empty)."""

    def __init__(self, addresses: list[str]) -> None:
        self.addresses = list(addresses)
        self.lookups = 0

    async def resolve(self, name: str, port: int) -> list[str]:
        self.lookups += 1
        if not self.addresses:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return list(reversed(self.addresses))  # order must not matter


async def dns_gateway(stack: Stack, table: Table | None, port: int, **overrides) -> TestClient:
    cfg = stack.config(
        discovery="dns",
        dns_names=f"product=product:{port},order=order:{port}",
        dns_interval_seconds=0.1,
        **overrides,
    )
    app = create_app(cfg)
    if table is not None:
        app[DISCOVERY].resolve = table.resolve
    return await stack.serve(app)


async def upstreams(stack: Stack, port: int) -> list[Upstream]:
    found = []
    for number, address in enumerate(ADDRESSES, start=1):
        upstream = Upstream(f"product-{number}")
        upstream.server = await stack.start_server(upstream.app(), host=address, port=port)
        found.append(upstream)
    return found


async def test_balances_over_every_address_within_ten_percent(stack: Stack) -> None:
    port = free_port()
    instances = await upstreams(stack, port)
    gateway = await dns_gateway(stack, Table(ADDRESSES), port)
    await wait_for_pool(gateway, {"product": 3})
    for _ in range(300):
        assert (await gateway.get("/api/products/1")).status == 200
    hits = [u.hits for u in instances]
    print("hits per instance:", hits)
    assert all(abs(h - 100) <= 10 for h in hits)
    served = gateway.app[DISCOVERY].pools["product"].endpoints
    assert [e.id for e in served] == [f"product@{a}:{port}" for a in ADDRESSES]


async def test_follows_the_name_as_instances_come_and_go(stack: Stack) -> None:
    port = free_port()
    instances = await upstreams(stack, port)
    table = Table(ADDRESSES[:1])
    gateway = await dns_gateway(stack, table, port)
    await wait_for_pool(gateway, {"product": 1})
    table.addresses = list(ADDRESSES)
    await wait_for_pool(gateway, {"product": 3})
    table.addresses = ADDRESSES[1:]
    await wait_for_pool(gateway, {"product": 2})
    before = instances[0].hits
    for _ in range(20):
        assert (await gateway.get("/api/products/1")).status == 200
    assert instances[0].hits == before  # gone from the name: no traffic
    table.addresses = []
    await wait_for_pool(gateway, {"product": 0})
    assert (await gateway.get("/api/products/1")).status == 503


async def test_a_killed_instance_loses_no_request(stack: Stack) -> None:
    """Still in the name but dead: connect failures are retried elsewhere, then it is ejected."""
    port = free_port()
    instances = await upstreams(stack, port)
    gateway = await dns_gateway(stack, Table(ADDRESSES), port)
    await wait_for_pool(gateway, {"product": 3})
    assert instances[1].server is not None
    await instances[1].server.close()
    statuses = Counter([(await gateway.get("/api/products/1")).status for _ in range(200)])
    assert statuses == {200: 200}
    pool = gateway.app[DISCOVERY].pools["product"]
    assert [e.id for e in pool.available()] == [
        f"product@{ADDRESSES[0]}:{port}",
        f"product@{ADDRESSES[2]}:{port}",
    ]


async def test_the_system_resolver(stack: Stack) -> None:
    port = free_port()
    upstream = Upstream("product-1")
    upstream.server = await stack.start_server(upstream.app(), host="127.0.0.1", port=port)
    cfg_names = f"product=localhost:{port},order=localhost:{port}"
    gateway = await stack.serve(create_app(stack.config(discovery="dns", dns_names=cfg_names)))
    await wait_for_pool(gateway, {"product": 1})
    assert (await gateway.get("/api/products/1")).status == 200
    assert upstream.hits == 1
    ready = await (await admin(gateway).get("/ready")).json()
    assert ready["checks"]["upstream:product"]["status"] == "ok"


def test_configuration_is_checked() -> None:
    with pytest.raises(ConfigError, match="registry or dns"):
        GatewayConfig.from_env({"SHOPNET_GATEWAY_DISCOVERY": "consul"})
    with pytest.raises(ConfigError, match="service=name:port"):
        GatewayConfig.from_env({"SHOPNET_GATEWAY_DNS_NAMES": "product=product"})
    cfg = GatewayConfig.from_env(
        {"SHOPNET_GATEWAY_DISCOVERY": "dns", "SHOPNET_GATEWAY_DNS_NAMES": "product=p:3001"}
    )
    assert cfg.dns_targets() == {"product": ("p", 3001)}
    with pytest.raises(ConfigError, match="order"):
        create_app(cfg)
