"""Placing and reading orders: the contract's shapes, server-side pricing, idempotency."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import aiohttp
import asyncpg

from tests.order.conftest import Stack
from tests.product.helpers import expect_error, product_body

FIELDS = {"id", "customer_id", "items", "total_cents", "currency", "status", "created_at"}


def order_body(customer: str = "c-42", **quantities: int) -> dict:
    """order_body(p1=2, p5=1) → items for products 1 (×2) and 5 (×1)."""
    lines = quantities or {"p1": 2}
    return {
        "customer_id": customer,
        "items": [{"product_id": int(k[1:]), "quantity": q} for k, q in lines.items()],
    }


async def rows(stack: Stack, sql: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(stack.database_url)
    try:
        return await conn.fetch(sql)
    finally:
        await conn.close()


async def test_create_and_get_have_the_contract_shape(stack: Stack) -> None:
    price1, price5 = await stack.product_price(1), await stack.product_price(5)
    resp = await stack.orders.post("/orders", json=order_body(p1=2, p5=3))
    assert resp.status == 201, await resp.text()
    order = await resp.json()
    assert set(order) == FIELDS
    assert uuid.UUID(order["id"]).version == 4
    assert order["customer_id"] == "c-42"
    assert order["items"] == [
        {"product_id": 1, "quantity": 2, "unit_price_cents": price1},
        {"product_id": 5, "quantity": 3, "unit_price_cents": price5},
    ]
    assert order["total_cents"] == 2 * price1 + 3 * price5
    assert order["currency"] == "EUR"
    assert order["status"] == "placed"
    assert order["created_at"].endswith("Z")
    created = datetime.fromisoformat(order["created_at"])
    assert abs(created - datetime.now(UTC)) < timedelta(minutes=1)
    assert resp.headers["Location"] == f"/orders/{order['id']}"
    assert "Idempotent-Replayed" not in resp.headers
    fetched = await stack.orders.get(resp.headers["Location"])
    assert fetched.status == 200
    assert await fetched.json() == order


async def test_lines_keep_the_clients_order(stack: Stack) -> None:
    body = order_body(p9=1, p2=1, p14=4, p3=2)
    order = await (await stack.orders.post("/orders", json=body)).json()
    assert [i["product_id"] for i in order["items"]] == [9, 2, 14, 3]
    again = await (await stack.orders.get(f"/orders/{order['id']}")).json()
    assert again["items"] == order["items"]


async def test_price_is_taken_at_order_time(stack: Stack) -> None:
    first = await (await stack.orders.post("/orders", json=order_body(p4=1))).json()
    async with aiohttp.ClientSession() as session:
        resp = await session.patch(stack.product.make_url("/products/4"), json={"price_cents": 5})
        assert resp.status == 200
    second = await (await stack.orders.post("/orders", json=order_body(p4=3))).json()
    assert second["items"][0]["unit_price_cents"] == 5 and second["total_cents"] == 15
    # The first order keeps the price it was sold at.
    kept = await (await stack.orders.get(f"/orders/{first['id']}")).json()
    assert kept == first and kept["items"][0]["unit_price_cents"] != 5


async def test_free_products_make_a_zero_total(stack: Stack) -> None:
    async with aiohttp.ClientSession() as session:
        await session.patch(stack.product.make_url("/products/6"), json={"price_cents": 0})
    order = await (await stack.orders.post("/orders", json=order_body(p6=3))).json()
    assert order["total_cents"] == 0


async def test_orders_by_customer_newest_first_paginated(stack: Stack) -> None:
    ids = []
    for n in range(1, 4):
        resp = await stack.orders.post("/orders", json=order_body("c-1", p1=n))
        ids.append((await resp.json())["id"])
    await stack.orders.post("/orders", json=order_body("c-2"))

    data = await (await stack.orders.get("/orders?customer_id=c-1")).json()
    assert (data["page"], data["page_size"], data["total"]) == (1, 20, 3)
    assert [o["id"] for o in data["items"]] == ids[::-1]
    assert all(set(o) == FIELDS and o["customer_id"] == "c-1" for o in data["items"])
    assert [o["items"][0]["quantity"] for o in data["items"]] == [3, 2, 1]

    first = await (await stack.orders.get("/orders?customer_id=c-1&page_size=2")).json()
    second = await (await stack.orders.get("/orders?customer_id=c-1&page_size=2&page=2")).json()
    assert [o["id"] for o in first["items"] + second["items"]] == ids[::-1]
    assert first["total"] == second["total"] == 3
    empty = await (await stack.orders.get("/orders?customer_id=nobody")).json()
    assert empty == {"items": [], "page": 1, "page_size": 20, "total": 0}


async def test_unknown_products_are_422_naming_them(stack: Stack) -> None:
    resp = await stack.orders.post("/orders", json=order_body(p1=1, p999=1, p777=2))
    error = await expect_error(resp, 422, "unknown_products")
    assert error["details"] == {"unknown_product_ids": [999, 777]}
    assert "999" in error["message"] and "777" in error["message"]
    assert await rows(stack, "SELECT * FROM orders.orders") == []


async def test_deleted_product_cannot_be_ordered(stack: Stack) -> None:
    async with aiohttp.ClientSession() as session:
        await session.delete(stack.product.make_url("/products/8"))
    error = await expect_error(
        await stack.orders.post("/orders", json=order_body(p8=1)), 422, "unknown_products"
    )
    assert error["details"]["unknown_product_ids"] == [8]


async def test_mixed_currencies_are_422(stack: Stack) -> None:
    async with aiohttp.ClientSession() as session:
        resp = await session.post(
            stack.product.make_url("/products"),
            json=product_body(sku="USD-1", price_cents=900, currency="USD"),
        )
        usd = (await resp.json())["id"]
    lines = [{"product_id": 1, "quantity": 1}, {"product_id": usd, "quantity": 1}]
    body = {"customer_id": "c-1", "items": lines}
    error = await expect_error(
        await stack.orders.post("/orders", json=body), 422, "mixed_currencies"
    )
    assert error["details"]["currencies"] == {"1": "EUR", str(usd): "USD"}
    # One currency alone is fine.
    only_usd = {"customer_id": "c-1", "items": [{"product_id": usd, "quantity": 2}]}
    order = await (await stack.orders.post("/orders", json=only_usd)).json()
    assert (order["currency"], order["total_cents"]) == ("USD", 1800)


async def test_idempotency_key_replays_the_original_order(stack: Stack) -> None:
    headers = {"Idempotency-Key": '"checkout-7f3a"'}  # an sf-string, as the draft writes it
    first = await stack.orders.post("/orders", json=order_body(p1=1, p2=2), headers=headers)
    assert first.status == 201
    original = await first.json()
    # Same key, same request (lines in another order mean the same order): the original
    # status and body, marked as a replay; a bare token names the same key.
    for same in ('"checkout-7f3a"', "checkout-7f3a"):
        replay = await stack.orders.post(
            "/orders", json=order_body(p2=2, p1=1), headers={"Idempotency-Key": same}
        )
        assert replay.status == 201
        assert replay.headers["Idempotent-Replayed"] == "true"
        assert replay.headers["Location"] == f"/orders/{original['id']}"
        assert await replay.json() == original
    # Same key, another request: refused, revealing nothing about the first one.
    other = await stack.orders.post("/orders", json=order_body(p1=5), headers=headers)
    error = await expect_error(other, 422, "idempotency_key_reused")
    assert "details" not in error and original["id"] not in await other.text()
    assert len(await rows(stack, "SELECT * FROM orders.orders")) == 1
    # Keys are scoped to the customer: another customer's identical key is a new order.
    other_customer = await stack.orders.post(
        "/orders", json=order_body("c-9", p1=1, p2=2), headers=headers
    )
    assert other_customer.status == 201
    assert "Idempotent-Replayed" not in other_customer.headers
    assert (await other_customer.json())["id"] != original["id"]
    # Without a key, every request is a new order.
    for _ in range(2):
        assert (await stack.orders.post("/orders", json=order_body(p1=1))).status == 201
    assert len(await rows(stack, "SELECT * FROM orders.orders")) == 4


async def test_idempotency_keys_expire(stack: Stack) -> None:
    orders = await stack.start_orders(idempotency_ttl_seconds=0.5)
    headers = {"Idempotency-Key": '"short-lived"'}
    first = await (await orders.post("/orders", json=order_body(p1=1), headers=headers)).json()
    await asyncio.sleep(0.6)
    # Expired: the key names a new order now, even with another request.
    again = await orders.post("/orders", json=order_body(p2=1), headers=headers)
    assert again.status == 201 and "Idempotent-Replayed" not in again.headers
    assert (await again.json())["id"] != first["id"]


async def test_replay_does_not_reprice(stack: Stack) -> None:
    headers = {"Idempotency-Key": "k-reprice"}
    original = await (
        await stack.orders.post("/orders", json=order_body(p3=1), headers=headers)
    ).json()
    async with aiohttp.ClientSession() as session:
        await session.patch(stack.product.make_url("/products/3"), json={"price_cents": 1})
    replay = await stack.orders.post("/orders", json=order_body(p3=1), headers=headers)
    assert await replay.json() == original


async def test_concurrent_duplicates_make_exactly_one_order(stack: Stack) -> None:
    headers = {"Idempotency-Key": "double-click-42"}
    body = order_body(p1=1, p7=2)
    responses = await asyncio.gather(
        *(stack.orders.post("/orders", json=body, headers=headers) for _ in range(20))
    )
    # One creates; the others replay it (201) or, while it is in flight, get 409.
    fresh = [r for r in responses if r.status == 201 and "Idempotent-Replayed" not in r.headers]
    assert len(fresh) == 1
    assert all(r.status in (201, 409) for r in responses), [r.status for r in responses]
    created = await fresh[0].json()
    for r in responses:
        if r.status == 201:
            assert await r.json() == created
        else:
            await expect_error(r, 409, "idempotency_key_in_flight")
    assert len(await rows(stack, "SELECT * FROM orders.orders")) == 1
    lines = await rows(stack, "SELECT product_id, quantity FROM orders.order_items ORDER BY line")
    assert [tuple(r) for r in lines] == [(1, 1), (7, 2)]


async def test_concurrent_duplicates_with_different_bodies_make_one_order(stack: Stack) -> None:
    headers = {"Idempotency-Key": "racing-bodies"}
    bodies = [order_body(p1=n) for n in range(1, 11)]
    responses = await asyncio.gather(
        *(stack.orders.post("/orders", json=b, headers=headers) for b in bodies)
    )
    assert sorted(r.status for r in responses) == [201] + [422] * 9
    assert len(await rows(stack, "SELECT * FROM orders.orders")) == 1
