"""Stock: reserved atomically at order time through the product service, never negative,
given back when an order fails or is cancelled, and never served stale from the cache."""

from __future__ import annotations

import asyncio
import uuid

import aiohttp
import asyncpg

from tests.order.conftest import Stack, product_instances_ready, stock_of
from tests.product.helpers import expect_error
from tests.support.waiting import until


def order(product_id: int, quantity: int = 1, customer: str = "c-1") -> dict:
    return {"customer_id": customer, "items": [{"product_id": product_id, "quantity": quantity}]}


async def set_stock(stack: Stack, product_id: int, stock: int) -> None:
    async with aiohttp.ClientSession() as session:
        url = stack.product.make_url(f"/products/{product_id}")
        resp = await session.patch(url, json={"stock": stock})
        assert resp.status == 200, await resp.text()


async def served_stock(stack: Stack, product_id: int) -> tuple[int, str]:
    """The stock the product service answers (through its cache) and X-Cache."""
    async with aiohttp.ClientSession() as session:
        resp = await session.get(stack.product.make_url(f"/products/{product_id}"))
        return (await resp.json())["stock"], resp.headers["X-Cache"]


async def test_n_orders_for_the_last_k_units_make_exactly_k(stack: Stack) -> None:
    k, n = 5, 24
    await set_stock(stack, 3, k)
    await served_stock(stack, 3)
    assert await served_stock(stack, 3) == (k, "HIT")  # cached before the rush
    responses = await asyncio.gather(
        *(stack.orders.post("/orders", json=order(3, customer=f"c-{i}")) for i in range(n))
    )
    statuses = sorted(r.status for r in responses)
    assert statuses == [201] * k + [409] * (n - k), statuses
    for r in responses:
        if r.status == 409:
            error = await expect_error(r, 409, "insufficient_stock")
            assert error["details"] == {"product_ids": [3]}
    assert await stock_of(stack, 3) == 0
    # The reservations invalidated the cached product: no stale stock is served.
    assert (await served_stock(stack, 3))[0] == 0


async def test_a_stored_order_confirmed_its_reservation_so_it_never_expires(stack: Stack) -> None:
    """Unconfirmed reservations expire (shopnet.product.reservations); the order service
    confirms in the transaction that stores the order, so a stored order's stock stays."""
    resp = await stack.orders.post("/orders", json=order(5))
    assert resp.status == 201
    order_id = (await resp.json())["id"]
    conn = await asyncpg.connect(stack.database_url)
    try:
        state = await conn.fetchval(
            "SELECT state FROM products.reservations WHERE id = $1", order_id
        )
    finally:
        await conn.close()
    assert state == "confirmed"


async def test_a_multi_line_order_takes_all_or_nothing(stack: Stack) -> None:
    await set_stock(stack, 4, 2)
    before = await stock_of(stack, 5)
    lines = [{"product_id": 5, "quantity": 1}, {"product_id": 4, "quantity": 3}]
    resp = await stack.orders.post("/orders", json={"customer_id": "c-1", "items": lines})
    error = await expect_error(resp, 409, "insufficient_stock")
    assert error["details"] == {"product_ids": [4]}
    assert (await stock_of(stack, 5), await stock_of(stack, 4)) == (before, 2)
    # Unknown products: the known line's stock is untouched too.
    lines = [{"product_id": 5, "quantity": 1}, {"product_id": 9999, "quantity": 1}]
    resp = await stack.orders.post("/orders", json={"customer_id": "c-1", "items": lines})
    await expect_error(resp, 422, "unknown_products")
    assert await stock_of(stack, 5) == before
    assert await holds(stack) == 0


async def test_sold_out_products_cannot_be_ordered(stack: Stack) -> None:
    assert await stock_of(stack, 13) == 0  # every 13th seed product is sold out
    await expect_error(
        await stack.orders.post("/orders", json=order(13)), 409, "insufficient_stock"
    )


async def test_cancel_gives_the_stock_back_once(stack: Stack) -> None:
    before = await stock_of(stack, 2)
    placed = await (await stack.orders.post("/orders", json=order(2, 3))).json()
    assert await stock_of(stack, 2) == before - 3
    await served_stock(stack, 2)  # cache the reduced stock
    for _ in range(2):  # idempotent
        resp = await stack.orders.post(f"/orders/{placed['id']}/cancel")
        assert resp.status == 200, await resp.text()
        cancelled = await resp.json()
        assert cancelled == {**placed, "status": "cancelled"}
        assert await stock_of(stack, 2) == before
        assert (await served_stock(stack, 2))[0] == before
    fetched = await (await stack.orders.get(f"/orders/{placed['id']}")).json()
    assert fetched["status"] == "cancelled"
    await expect_error(await stack.orders.post(f"/orders/{uuid.uuid4()}/cancel"), 404)
    await expect_error(await stack.orders.post("/orders/123/cancel"), 400, "validation_failed")
    assert await holds(stack) == 0


async def test_a_cancel_while_the_product_service_is_away_is_released_later(
    stack: Stack,
) -> None:
    orders = await stack.start_orders(recovery_seconds=0.1)
    before = await stock_of(stack, 6)
    placed = await (await orders.post("/orders", json=order(6, 2))).json()
    await stack.deregister("product-1")
    await product_instances_ready(orders, 0)
    resp = await orders.post(f"/orders/{placed['id']}/cancel")
    assert resp.status == 200 and (await resp.json())["status"] == "cancelled"
    assert await stock_of(stack, 6) == before - 2  # not yet: no product instance
    assert stack.product.port is not None
    await stack.register("product-1", stack.product.port)
    await product_instances_ready(orders, 1)
    await until(lambda: _stock_is(stack, 6, before), timeout=10)
    assert await holds(stack) == 0


async def _stock_is(stack: Stack, product_id: int, expected: int) -> bool:
    return await stock_of(stack, product_id) == expected


async def holds(stack: Stack) -> int:
    conn = await asyncpg.connect(stack.database_url)
    try:
        return await conn.fetchval("SELECT count(*) FROM orders.holds")
    finally:
        await conn.close()
