"""Failures around an order: the product service away or slow, a transaction failing
half-way, and PostgreSQL crashing right after an acknowledged order."""

from __future__ import annotations

import asyncio
import time

import asyncpg
import pytest

from shopnet.order.db import HoldExpired, Line, NewOrder, OrderStore
from shopnet.order.keys import CATALOG, STORE
from tests.order.conftest import (
    Stack,
    failing_app,
    garbage_app,
    hanging_app,
    product_instances_ready,
    stock_of,
)
from tests.product.helpers import expect_error
from tests.support.servers import PostgresServer, free_port
from tests.support.waiting import until

ORDER = {"customer_id": "c-1", "items": [{"product_id": 1, "quantity": 2}]}


async def count_orders(database_url: str) -> int:
    conn = await asyncpg.connect(database_url)
    try:
        return await conn.fetchval("SELECT count(*) FROM orders.orders")
    finally:
        await conn.close()


async def test_product_service_unreachable_is_503_with_retry_after(stack: Stack) -> None:
    await stack.register("product-dead", free_port())  # nothing listens there
    await stack.deregister("product-1")
    await product_instances_ready(stack.orders, 1)
    resp = await stack.orders.post("/orders", json=ORDER)
    await expect_error(resp, 503, "unavailable")
    assert int(resp.headers["Retry-After"]) >= 1
    assert await count_orders(stack.database_url) == 0


async def test_no_product_instance_is_503_and_degraded(stack: Stack) -> None:
    await stack.deregister("product-1")
    await product_instances_ready(stack.orders, 0)
    resp = await stack.orders.post("/orders", json=ORDER)
    await expect_error(resp, 503, "unavailable")
    assert "Retry-After" in resp.headers
    ready = await (await stack.orders.get("/ready")).json()
    assert ready["status"] == "degraded"
    assert ready["checks"]["product"]["status"] == "degraded"


async def test_a_dead_instance_is_retried_on_another(stack: Stack) -> None:
    await stack.register("product-dead", free_port())
    await product_instances_ready(stack.orders, 2)
    # Round robin sends about every other first attempt to the dead instance.
    for _ in range(6):
        assert (await stack.orders.post("/orders", json=ORDER)).status == 201
    assert await count_orders(stack.database_url) == 6


async def test_a_hanging_instance_times_out_and_is_retried(stack: Stack, aiohttp_server) -> None:
    hanging = await aiohttp_server(hanging_app())
    await stack.register("product-hang", hanging.port)
    orders = await stack.start_orders(product_timeout_seconds=0.3)
    await product_instances_ready(orders, 2)
    for _ in range(4):
        started = time.monotonic()
        resp = await orders.post("/orders", json=ORDER)
        assert resp.status == 201
        assert time.monotonic() - started < 2  # one timeout at most, then the live instance


async def test_a_garbled_price_list_is_502(stack: Stack, aiohttp_server) -> None:
    garbage = await aiohttp_server(garbage_app())
    await stack.register("product-garbage", garbage.port)
    await stack.deregister("product-1")
    await product_instances_ready(stack.orders, 1)
    await expect_error(await stack.orders.post("/orders", json=ORDER), 502, "bad_gateway")


async def test_a_500_is_that_order_s_502_and_ejects_no_instance(
    stack: Stack, aiohttp_server
) -> None:
    """A 500 may be the request's doing: were it counted, a client able to provoke one could
    eject healthy instances (as the gateway already refuses to)."""
    failing = await aiohttp_server(failing_app())
    await stack.register("product-500", failing.port)
    await product_instances_ready(stack.orders, 2)
    statuses = [(await stack.orders.post("/orders", json=ORDER)).status for _ in range(12)]
    assert 502 in statuses and set(statuses) <= {201, 502}, statuses  # not retried elsewhere
    assert len(stack.orders.app[CATALOG].pool.available()) == 2


async def test_a_failing_line_rolls_back_the_whole_order(stack: Stack) -> None:
    """The order row is inserted first; a line then violates a constraint: nothing remains,
    and the order's hold (its stock's way back) is kept."""
    store: OrderStore = stack.orders.app[STORE]
    bad = NewOrder(
        customer_id="c-1",
        currency="EUR",
        lines=(Line(1, 1, 100), Line(2, 0, 100)),  # quantity 0 breaks a CHECK
        fingerprint="0" * 64,
    )
    await store.hold(bad.id, seconds=30)
    with pytest.raises(asyncpg.CheckViolationError):
        await store.create(bad, outcome=lambda o: b"", key=None)
    assert await count_orders(stack.database_url) == 0
    assert await store.release_held(_no_op, order_id=bad.id) == [bad.id]
    # A hold past its deadline: the order is not stored.
    late = NewOrder(
        customer_id="c-1", currency="EUR", lines=(Line(1, 1, 100),), fingerprint="0" * 64
    )
    await store.hold(late.id, seconds=0.001)
    await asyncio.sleep(0.01)
    with pytest.raises(HoldExpired):
        await store.create(late, outcome=lambda o: b"", key=None)
    assert await count_orders(stack.database_url) == 0


async def _no_op(order_id: object) -> None:
    pass


async def test_a_database_error_mid_order_is_500_json_and_stores_nothing(stack: Stack) -> None:
    conn = await asyncpg.connect(stack.database_url)
    try:
        # A trigger that fails the insert of one line, after the order row went in.
        await conn.execute(
            """
            CREATE FUNCTION orders.refuse_product_12() RETURNS trigger AS $$
            BEGIN
              IF NEW.product_id = 12 THEN RAISE EXCEPTION 'line refused'; END IF;
              RETURN NEW;
            END $$ LANGUAGE plpgsql;
            CREATE TRIGGER refuse BEFORE INSERT ON orders.order_items
              FOR EACH ROW EXECUTE FUNCTION orders.refuse_product_12();
            """
        )
        stock_before = await stock_of(stack, 12)
        lines = [{"product_id": 1, "quantity": 1}, {"product_id": 12, "quantity": 1}]
        body = {"customer_id": "c-1", "items": lines}
        headers = {"Idempotency-Key": "trigger-key"}
        resp = await stack.orders.post("/orders", json=body, headers=headers)
        await expect_error(resp, 500, "internal")
        assert await conn.fetchval("SELECT count(*) FROM orders.orders") == 0
        assert await conn.fetchval("SELECT count(*) FROM orders.order_items") == 0
        assert await stock_of(stack, 12) == stock_before  # reserved, then given back
        await conn.execute("DROP TRIGGER refuse ON orders.order_items")
        retry = await stack.orders.post("/orders", json=body, headers=headers)
        assert retry.status == 201
    finally:
        await conn.close()


async def test_an_acknowledged_order_survives_a_postgres_crash(
    stack: Stack, own_postgres: PostgresServer
) -> None:
    orders = await stack.start_orders(database_url=own_postgres.dsn())
    await product_instances_ready(orders)
    acknowledged = []
    for n in range(1, 6):
        resp = await orders.post("/orders", json={**ORDER, "customer_id": f"crash-{n}"})
        assert resp.status == 201
        acknowledged.append(await resp.json())

    own_postgres.kill()  # SIGKILL: no shutdown checkpoint, only the WAL survives
    await expect_error(await orders.get(f"/orders/{acknowledged[0]['id']}"), 503, "unavailable")
    own_postgres.start()  # crash recovery replays the WAL

    conn = await asyncpg.connect(own_postgres.dsn())
    try:
        assert await conn.fetchval("SELECT count(*) FROM orders.orders") == 5
    finally:
        await conn.close()

    async def readable() -> bool:
        return (await orders.get(f"/orders/{acknowledged[0]['id']}")).status == 200

    await until(readable, timeout=15, interval=0.1)
    for order in acknowledged:
        resp = await orders.get(f"/orders/{order['id']}")
        assert await resp.json() == order
