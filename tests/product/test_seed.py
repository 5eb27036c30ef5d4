"""The seed catalog: deterministic, loaded once even when instances start together."""

from __future__ import annotations

import asyncio

import aiohttp
import asyncpg
from aiohttp.test_utils import TestServer

from shopnet.product.app import create_app
from shopnet.product.seed import catalog_entry
from tests.product.conftest import MakeConfig


async def count(database_url: str) -> int:
    conn = await asyncpg.connect(database_url)
    try:
        return await conn.fetchval("SELECT count(*) FROM products.products")
    finally:
        await conn.close()


def test_entries_are_deterministic_and_valid() -> None:
    assert catalog_entry(1) == catalog_entry(1)
    skus = set()
    for i in (1, 2, 13, 999, 1000, 4096, 4097, 100_000):
        sku, name, description, price, currency, stock = catalog_entry(i)
        assert sku == f"SN-{i:06d}"
        assert 1 <= len(name) <= 200 and name in description
        assert 0 < price <= 1_000_000_000 and currency == "EUR" and stock >= 0
        skus.add(sku)
    assert catalog_entry(13)[5] == 0  # some products are sold out
    assert catalog_entry(4097)[1].endswith("Mk 2")  # names stay distinct past 16³


async def test_three_instances_starting_together_seed_once(
    product_config: MakeConfig, aiohttp_server, database_url: str
) -> None:
    apps = [create_app(product_config(seed_products=1000)) for _ in range(3)]
    servers: list[TestServer] = await asyncio.gather(*(aiohttp_server(app) for app in apps))
    assert await count(database_url) == 1000
    # Product i has id i and is the same on every instance.
    async with aiohttp.ClientSession() as session:
        for server in servers:
            for i in (1, 500, 1000):
                async with session.get(server.make_url(f"/products/{i}")) as resp:
                    product = await resp.json()
                sku, name, _, price, _, stock = catalog_entry(i)
                assert (product["id"], product["sku"], product["name"]) == (i, sku, name)
                assert (product["price_cents"], product["stock"]) == (price, stock)


async def test_restart_does_not_reseed_and_a_larger_count_adds_the_tail(
    product_config: MakeConfig, aiohttp_client, database_url: str
) -> None:
    first = await aiohttp_client(create_app(product_config(seed_products=20)))
    assert (await first.delete("/products/5")).status == 204
    await first.close()
    again = await aiohttp_client(create_app(product_config(seed_products=20)))
    assert await count(database_url) == 19  # a deleted seed product stays deleted
    await again.close()
    bigger = await aiohttp_client(create_app(product_config(seed_products=30)))
    assert await count(database_url) == 29
    assert (await (await bigger.get("/products/30")).json())["sku"] == "SN-000030"
