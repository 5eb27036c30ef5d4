"""Dependencies failing: Redis down (degraded, then recovery), Redis hung, PostgreSQL down."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator

import pytest
from aiohttp.test_utils import TestClient

from shopnet.product.app import create_app
from shopnet.product.keys import CACHE, CACHE_METRICS
from tests.product.conftest import MakeConfig
from tests.product.helpers import expect_error, metric, product_body
from tests.support.servers import PostgresServer, RedisServer
from tests.support.waiting import until


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    """A Redis of this test alone, to stop, pause and start."""
    server = RedisServer()
    server.start()
    yield server
    if server.pid is not None:
        os.kill(server.pid, signal.SIGCONT)  # never leave it paused
    server.destroy()


async def status(client: TestClient, path: str) -> tuple[int, str | None, bytes]:
    resp = await client.get(path)
    return resp.status, resp.headers.get("X-Cache"), await resp.read()


async def ready(client: TestClient) -> dict:
    return await (await client.get("/ready")).json()


async def test_redis_down_serves_from_postgres_then_recovers(
    product_config: MakeConfig, aiohttp_client, own_redis: RedisServer
) -> None:
    client = await aiohttp_client(
        create_app(product_config(redis_url=own_redis.url, seed_products=10))
    )
    metrics = client.app[CACHE_METRICS]
    assert (await status(client, "/products/1"))[:2] == (200, "MISS")
    code, state, body = await status(client, "/products/1")
    assert (code, state) == (200, "HIT")

    own_redis.stop()
    # Every answer is still right, from PostgreSQL.
    assert await status(client, "/products/1") == (200, "MISS", body)
    await until(lambda: not client.app[CACHE].up)
    readiness = await (await client.get("/ready")).json()
    assert readiness["status"] == "degraded"
    assert readiness["checks"]["redis"]["status"] == "degraded"
    assert readiness["checks"]["postgres"]["status"] == "ok"
    assert (await client.get("/ready")).status == 200
    text = await (await client.get("/metrics")).text()
    assert metric(text, "shopnet_cache_up") == 0

    # While the breaker is open Redis is not even asked: no timeout paid per request.
    errors, bypassed = metrics.error.value, metrics.bypass.value
    started = time.monotonic()
    for i in range(1, 11):
        code, state, _ = await status(client, f"/products/{i}")
        assert (code, state) == (200, "MISS")
    assert metrics.bypass.value - bypassed == 10
    assert metrics.error.value == errors
    assert time.monotonic() - started < 2.5  # a 1 s Redis timeout each would take 10 s
    assert (await status(client, "/products?page_size=3"))[:2] == (200, "MISS")

    own_redis.start()
    await until(lambda: client.app[CACHE].up, timeout=10)
    assert (await ready(client))["status"] == "ready"
    assert (await status(client, "/products/1"))[:2] == (200, "MISS")  # Redis came back empty
    assert await status(client, "/products/1") == (200, "HIT", body)
    text = await (await client.get("/metrics")).text()
    assert metric(text, "shopnet_cache_up") == 1


async def test_starts_degraded_without_redis(
    product_config: MakeConfig, aiohttp_client, own_redis: RedisServer
) -> None:
    own_redis.stop()
    client = await aiohttp_client(
        create_app(product_config(redis_url=own_redis.url, seed_products=3))
    )
    assert (await ready(client))["status"] == "degraded"
    assert (await status(client, "/products/2"))[:2] == (200, "MISS")
    own_redis.start()
    await until(lambda: client.app[CACHE].up, timeout=10)
    await status(client, "/products/2")
    assert (await status(client, "/products/2"))[:2] == (200, "HIT")


async def test_writes_while_redis_hangs_are_invalidated_when_it_returns(
    product_config: MakeConfig, aiohttp_client, own_redis: RedisServer
) -> None:
    """Redis unreachable but not restarted (a hang, a partition): its old entries survive,
    so the writes it missed must be replayed before the cache is trusted again."""
    client = await aiohttp_client(
        create_app(
            product_config(redis_url=own_redis.url, seed_products=5, cache_timeout_seconds=0.2)
        )
    )
    await status(client, "/products/4")
    await status(client, "/products?page_size=2")
    assert (await status(client, "/products/4"))[1] == "HIT"
    assert own_redis.pid is not None
    os.kill(own_redis.pid, signal.SIGSTOP)
    try:
        await until(lambda: not client.app[CACHE].up, timeout=5)
        resp = await client.patch("/products/4", json={"price_cents": 5, "name": "Changed"})
        assert resp.status == 200
        code, state, body = await status(client, "/products/4")
        assert (code, state) == (200, "MISS") and b"Changed" in body
    finally:
        os.kill(own_redis.pid, signal.SIGCONT)
    await until(lambda: client.app[CACHE].up, timeout=10)
    for _ in range(2):
        code, _, again = await status(client, "/products/4")
        assert code == 200 and b"Changed" in again
        _, _, page = await status(client, "/products?page_size=5")
        assert b"Changed" in page


@pytest.mark.parametrize("how", ["stop", "kill"])
async def test_postgres_down_is_a_quick_503_and_recovers(
    product_config: MakeConfig, aiohttp_client, own_postgres: PostgresServer, how: str
) -> None:
    client = await aiohttp_client(
        create_app(product_config(database_url=own_postgres.dsn(), seed_products=5))
    )
    await status(client, "/products/1")
    getattr(own_postgres, how)()  # a clean shutdown, or a crash (SIGKILL)

    started = time.monotonic()
    await expect_error(await client.get("/products/2"), 503, "unavailable")
    resp = await client.get("/products/3")
    await expect_error(resp, 503, "unavailable")
    assert int(resp.headers["Retry-After"]) >= 1
    await expect_error(await client.post("/products", json=product_body()), 503, "unavailable")
    await expect_error(await client.get("/products?page=2"), 503, "unavailable")
    assert time.monotonic() - started < 5
    # What the cache holds is still served.
    assert (await status(client, "/products/1"))[:2] == (200, "HIT")
    resp = await client.get("/ready")
    assert resp.status == 503
    assert (await resp.json())["checks"]["postgres"]["status"] == "down"

    own_postgres.start()

    async def serving() -> bool:
        return (await client.get("/products/2")).status == 200

    await until(serving, timeout=15, interval=0.1)
    assert (await ready(client))["status"] == "ready"
