"""Order service fixtures: a real registry, a real product service registered in it, and
the order service discovering it, all aiohttp servers on loopback with real PostgreSQL
(one fresh database, both schemas, as in the stack) and Redis."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from shopnet.common.identity import ROLE_HEADER
from shopnet.common.registry_client import InstanceInfo, RegistryClient
from shopnet.order.app import create_app as create_order_app
from shopnet.order.config import OrderConfig
from shopnet.order.keys import CATALOG
from shopnet.product.app import create_app as create_product_app
from shopnet.product.config import ProductConfig
from shopnet.registry.app import create_app as create_registry_app
from shopnet.registry.config import RegistryConfig
from tests.support.registry import TOKEN, bindings_of
from tests.support.teardown import close_within
from tests.support.waiting import until

SEEDED = 20  # seed products 1..20, all in EUR


ADMIN_CALLER = {ROLE_HEADER: "admin"}


@dataclass
class Stack:
    registry: TestServer
    product: TestServer
    orders: TestClient
    database_url: str
    start_orders: Callable[..., Awaitable[TestClient]]
    registry_client: RegistryClient
    """Holds the token, and the secrets of the registrations it made."""

    @property
    def registry_url(self) -> str:
        return str(self.registry.make_url(""))

    async def register(self, instance_id: str, port: int, service: str = "product") -> None:
        await self.registry_client.register(
            InstanceInfo(instance_id, service, "127.0.0.1", port, ttl=60, deregister_after=60)
        )

    async def deregister(self, instance_id: str) -> None:
        await self.registry_client.deregister(instance_id)

    async def product_price(self, product_id: int) -> int:
        url = self.product.make_url(f"/products/{product_id}")
        async with aiohttp.ClientSession() as session, session.get(url) as resp:
            return (await resp.json())["price_cents"]


async def product_instances_ready(client: TestClient, count: int = 1) -> None:
    """Until the order service's watch has seen `count` product instances."""
    await until(lambda: len(client.app[CATALOG].pool.endpoints) == count, timeout=10)


@pytest.fixture
async def stack(
    database_url: str, redis_url: str, aiohttp_server, aiohttp_client, registry_token_file: str
) -> AsyncIterator[Stack]:
    registry = await aiohttp_server(
        create_registry_app(
            RegistryConfig.from_env(
                {}, sweep_seconds=0.05, tokens_file=bindings_of(registry_token_file)
            )
        )
    )
    product_cfg = ProductConfig.from_env(
        {},
        database_url=database_url,
        redis_url=redis_url,
        seed_products=SEEDED,
        register=False,
        cache_probe_seconds=0.05,
        cache_timeout_seconds=1.0,
    )
    product = await aiohttp_server(create_product_app(product_cfg))

    async def start_orders(**overrides: Any) -> TestClient:
        settings: dict[str, Any] = {
            "database_url": database_url,
            "registry_url": str(registry.make_url("")),
            "register": False,
            "product_timeout_seconds": 1.0,
            "discovery_wait_seconds": 1.0,
        }
        settings.update(overrides)
        # As the gateway forwards an admin's request; tests/order/test_owners.py speaks as customers.
        started = await aiohttp_client(
            create_order_app(OrderConfig.from_env({}, **settings)), headers=ADMIN_CALLER
        )
        order_clients.append(started)
        return started

    order_clients: list[TestClient] = []
    try:
        async with aiohttp.ClientSession() as session:
            client = RegistryClient(session, str(registry.make_url("")), token=TOKEN)
            # `orders` starts once the product is registered, just below.
            result = Stack(registry, product, None, database_url, start_orders, client)  # type: ignore[arg-type]
            await result.register("product-1", product.port)
            result.orders = await start_orders()
            await product_instances_ready(result.orders)
            yield result
    finally:
        # The apps and their pools close here, before the database goes (this fixture
        # depends on database_url, so pytest tears it down first).
        for started in reversed(order_clients):
            await close_within(started, "an order app")
        await close_within(product, "the product app")


async def stock_of(stack: Stack, product_id: int) -> int:
    """The product's stock as PostgreSQL has it (not through any cache)."""
    conn = await asyncpg.connect(stack.database_url)
    try:
        return await conn.fetchval("SELECT stock FROM products.products WHERE id = $1", product_id)
    finally:
        await conn.close()


def hanging_app() -> web.Application:
    """A product instance that accepts requests and answers none until it shuts down."""
    app = web.Application()
    release = asyncio.Event()

    async def hang(request: web.Request) -> web.Response:
        await release.wait()
        return web.Response(status=503)

    async def on_shutdown(app: web.Application) -> None:
        release.set()

    app.router.add_get("/products", hang)
    app.router.add_route("*", "/internal/reservations/{tail:.*}", hang)  # and /confirm
    app.on_shutdown.append(on_shutdown)
    return app


def failing_app() -> web.Application:
    """A product instance whose reservations end in 500 (a bug on some requests)."""
    app = web.Application()

    async def fail(request: web.Request) -> web.Response:
        return web.json_response({"error": {"code": "internal", "message": "bug"}}, status=500)

    app.router.add_put("/internal/reservations/{id}", fail)
    return app


def garbage_app() -> web.Application:
    """A product instance that answers 200 with something that is not a price list."""
    app = web.Application()

    async def garbage(request: web.Request) -> web.Response:
        return web.json_response({"items": [{"id": "one", "price_cents": -5}]})

    app.router.add_get("/products", garbage)
    app.router.add_put("/internal/reservations/{id}", garbage)
    return app
