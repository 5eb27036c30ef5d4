"""The cache: hits cost no query, writes invalidate, misses coalesce, races cannot go stale."""

from __future__ import annotations

import asyncio

import asyncpg
import redis.asyncio as aioredis
from aiohttp.test_utils import TestClient

from shopnet.product.cache import product_key
from shopnet.product.keys import CACHE, CACHE_METRICS, STORE
from shopnet.product.schemas import encode_product
from tests.product.helpers import product_body
from tests.support.waiting import until


async def get(client: TestClient, path: str) -> tuple[str, bytes]:
    resp = await client.get(path)
    assert resp.status == 200, await resp.text()
    return resp.headers["X-Cache"], await resp.read()


async def test_miss_then_hit_serves_the_same_bytes_without_a_query(
    seeded: TestClient, redis_url: str
) -> None:
    store = seeded.app[STORE]
    before = store.queries
    state, first = await get(seeded, "/products/7")
    assert state == "MISS" and store.queries == before + 1
    for _ in range(3):
        state, again = await get(seeded, "/products/7")
        assert state == "HIT" and again == first
    assert store.queries == before + 1
    # Redis holds exactly the served bytes, with the configured TTL.
    redis = aioredis.from_url(redis_url)
    try:
        assert await redis.get(product_key(7)) == first
        assert 0 < await redis.ttl(product_key(7)) <= 300
    finally:
        await redis.aclose()


async def test_update_and_delete_invalidate(seeded: TestClient) -> None:
    await get(seeded, "/products/3")
    assert (await get(seeded, "/products/3"))[0] == "HIT"

    resp = await seeded.put("/products/3", json=product_body(sku="NEW-3", price_cents=42))
    assert resp.status == 200
    state, body = await get(seeded, "/products/3")
    assert state == "MISS" and b'"price_cents":42' in body and b"NEW-3" in body
    assert (await get(seeded, "/products/3")) == ("HIT", body)

    assert (await seeded.patch("/products/3", json={"stock": 77})).status == 200
    state, body = await get(seeded, "/products/3")
    assert state == "MISS" and b'"stock":77' in body

    assert (await seeded.delete("/products/3")).status == 204
    assert (await seeded.get("/products/3")).status == 404


async def test_lists_are_cached_and_every_write_makes_them_stale(seeded: TestClient) -> None:
    state, first = await get(seeded, "/products?page_size=5")
    assert state == "MISS"
    assert await get(seeded, "/products?page_size=5") == ("HIT", first)
    # Another query is another key.
    assert (await get(seeded, "/products?page_size=5&page=2"))[0] == "MISS"

    await seeded.patch("/products/2", json={"name": "Renamed"})
    state, body = await get(seeded, "/products?page_size=5")
    assert state == "MISS" and b"Renamed" in body
    assert (await get(seeded, "/products?page_size=5&page=2"))[0] == "MISS"

    await seeded.post("/products", json=product_body())
    state, body = await get(seeded, "/products?page_size=5")
    assert state == "MISS" and b'"total":46' in body


async def test_concurrent_misses_make_one_query(seeded: TestClient, database_url: str) -> None:
    """50 requests miss together while the database is slow: one query serves them all."""
    store, metrics = seeded.app[STORE], seeded.app[CACHE_METRICS]
    misses_before, queries_before = metrics.miss.value, store.queries
    blocker = await asyncpg.connect(database_url)
    try:
        # Hold reads of the table until every request has missed and joined the load.
        transaction = blocker.transaction()
        await transaction.start()
        await blocker.execute("LOCK TABLE products.products IN ACCESS EXCLUSIVE MODE")
        requests = [asyncio.create_task(get(seeded, "/products/11")) for _ in range(50)]
        await until(lambda: metrics.miss.value - misses_before == 50, timeout=10)
        assert not any(r.done() for r in requests)
        await transaction.rollback()
        results = await asyncio.gather(*requests)
    finally:
        await blocker.close()
    assert store.queries - queries_before == 1
    assert {state for state, _ in results} == {"MISS"}
    assert len({body for _, body in results}) == 1


async def test_concurrent_list_misses_make_one_query(seeded: TestClient, database_url: str) -> None:
    store, metrics = seeded.app[STORE], seeded.app[CACHE_METRICS]
    misses_before, queries_before = metrics.miss.value, store.queries
    blocker = await asyncpg.connect(database_url)
    try:
        transaction = blocker.transaction()
        await transaction.start()
        await blocker.execute("LOCK TABLE products.products IN ACCESS EXCLUSIVE MODE")
        requests = [asyncio.create_task(get(seeded, "/products?in_stock=true")) for _ in range(20)]
        await until(lambda: metrics.miss.value - misses_before == 20, timeout=10)
        await transaction.rollback()
        results = await asyncio.gather(*requests)
    finally:
        await blocker.close()
    assert store.queries - queries_before == 1
    assert len({body for _, body in results}) == 1


async def test_a_write_during_a_miss_is_never_overwritten_by_the_older_read(
    seeded: TestClient,
) -> None:
    """The classic cache-aside race: read old row, write commits + invalidates, fill old row."""
    cache, store = seeded.app[CACHE], seeded.app[STORE]

    async def slow_load() -> bytes:
        old = encode_product(await store.get(5))
        # A write commits and invalidates while this load is still in flight.
        assert (await seeded.patch("/products/5", json={"price_cents": 1})).status == 200
        return old

    stale = await cache.load_product(5, slow_load)
    assert b'"price_cents":1,' not in stale
    state, body = await get(seeded, "/products/5")
    assert state == "MISS" and b'"price_cents":1,' in body
    assert await get(seeded, "/products/5") == ("HIT", body)


async def test_a_write_during_a_list_miss_is_never_overwritten(seeded: TestClient) -> None:
    cache = seeded.app[CACHE]
    generation, cached = await cache.get_list("some-query")
    assert cached is None and generation is not None
    await seeded.patch("/products/5", json={"price_cents": 1})
    await cache.fill_list(generation, "some-query", b"stale page")
    assert (await cache.get_list("some-query"))[1] is None


async def command_calls(redis: aioredis.Redis) -> dict[str, int]:
    stats = await redis.info("commandstats")
    return {
        name.removeprefix("cmdstat_"): value["calls"]
        for name, value in stats.items()
        if name != "cmdstat_ping"  # the health probe's
    }


async def test_a_hit_is_one_redis_read_and_nothing_else(seeded: TestClient, redis_url: str) -> None:
    """The benchmark path: a hit sends Redis one MGET; concurrent hits share MGETs."""
    await get(seeded, "/products/1")
    await get(seeded, "/products/2")
    redis = aioredis.from_url(redis_url)
    try:
        await redis.config_resetstat()
        for _ in range(10):
            assert (await get(seeded, "/products/1"))[0] == "HIT"
        calls = await command_calls(redis)
        assert calls.pop("mget") == 10
        assert calls.pop("info", 0) <= 1 and calls.pop("config|resetstat", 0) <= 1
        assert calls == {}

        await redis.config_resetstat()
        burst = await asyncio.gather(*(get(seeded, f"/products/{1 + i % 2}") for i in range(50)))
        assert {state for state, _ in burst} == {"HIT"}
        mgets = (await command_calls(redis))["mget"]
        assert 1 <= mgets < 50
    finally:
        await redis.aclose()
