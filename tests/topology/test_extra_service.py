"""The test topology with a cart service is the default one plus the cart's lines, and
everything the stack derives for a service follows from its spec and its `uses`."""

from __future__ import annotations

import dataclasses
import importlib
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from shopnet import spec as specs
from shopnet.errors import ConfigError
from shopnet.gateway.routes import Route, format_routes, parse_routes
from shopnet.runtime import datastore_auth
from shopnet.topology import default_topology
from shopnet.topology.load import load
from shopnet.topology.model import Flow, Topology

EXTRA = Path(__file__).resolve().parents[1] / "support" / "extra_services"


@pytest.fixture(scope="module")
def with_cart() -> Topology:
    return load(EXTRA / "topology.toml")


def test_the_test_topology_is_the_default_plus_the_carts_lines(with_cart: Topology) -> None:
    default = default_topology()
    cart = with_cart.service("cart")
    others = [s for s in with_cart.services if s.name != "cart"]
    gateway = default.service("gateway")
    grown = dataclasses.replace(gateway, depends_on=(*gateway.depends_on, "cart"))
    assert others == [grown if s.name == "gateway" else s for s in default.services]
    assert set(with_cart.flows) - set(default.flows) == {
        Flow("gateway", "cart", 3003),
        Flow("cart", "registry", 8500),
        Flow("cart", "redis", 6379),
    }
    assert set(default.flows) <= set(with_cart.flows)
    assert (cart.spec, cart.code) == ("shopnet_cart:SPEC", str(EXTRA))


def test_the_carts_route_redis_user_and_code_come_from_its_spec_and_uses(
    with_cart: Topology,
) -> None:
    cart = with_cart.service("cart")
    assert specs.spec_of(cart).config_class().service == "cart"
    assert specs.gateway_routes(with_cart)[-1] == Route("/api/carts", "cart", "/carts")
    assert datastore_auth.redis_prefixes(with_cart, "redis") == {
        "product": "shopnet:product",
        "cart": "shopnet:cart:",
    }
    assert datastore_auth.schemas(with_cart) == datastore_auth.schemas(default_topology())
    assert specs.launch_environment(cart) == {
        "SHOPNET_SERVICE_SPEC": "shopnet_cart:SPEC",
        "PYTHONPATH": str(EXTRA),
    }
    assert specs.launch_environment(with_cart.service("product")) == {}
    assert specs.internal_callers(with_cart) == {"product": ("order",)}


def test_routes_survive_the_environment() -> None:
    routes = specs.gateway_routes(default_topology())
    assert [r.prefix for r in routes] == ["/api/products", "/api/orders"]
    assert parse_routes(format_routes(routes)) == routes
    with pytest.raises(ConfigError, match="malformed route"):
        parse_routes("/api/x=x")


def test_a_service_without_a_spec_is_named_in_one_line() -> None:
    lonely = dataclasses.replace(default_topology().service("order"), name="nobody")
    with pytest.raises(ConfigError, match="has no spec"):
        specs.spec_of(lonely)
    with pytest.raises(ConfigError, match="cannot load the service spec"):
        specs.spec_of(dataclasses.replace(lonely, spec="no_such_module:SPEC"))
    with pytest.raises(ConfigError, match="is not a ServiceSpec"):
        specs.spec_of(dataclasses.replace(lonely, spec="shopnet.spec:BUILTIN"))


async def test_the_cart_app_keeps_carts_under_its_prefix(
    with_cart: Topology, redis_url: str, aiohttp_client: Any
) -> None:
    """The app its spec names, served in-process against a real Redis (no stack)."""
    spec = specs.spec_of(with_cart.service("cart"))
    cfg = spec.config_class()(redis_url=redis_url, register=False)  # type: ignore[call-arg]
    client = await aiohttp_client(importlib.import_module(spec.app).create_app(cfg))
    assert (await client.put("/carts/a", json={"items": []})).status == 200
    assert await (await client.get("/carts/a")).json() == {"items": []}
    assert (await client.get("/carts/b")).status == 404
    assert (await client.put("/carts/a", data=b"[1]")).status == 400
    redis = aioredis.from_url(redis_url)
    assert await redis.keys("*") == [b"shopnet:cart:a"]
    await redis.aclose()
