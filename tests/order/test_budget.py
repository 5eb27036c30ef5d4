"""One time budget per request: the order gives up (and gives its stock back) before the
caller's budget (X-Request-Budget-Ms, sent by the gateway) runs out, and is never stored
after its 504."""

from __future__ import annotations

import time

import asyncpg

from tests.order.conftest import Stack, stock_of
from tests.product.helpers import expect_error
from tests.support.waiting import until

BODY = {"customer_id": "c-1", "items": [{"product_id": 2, "quantity": 3}]}


async def counts(stack: Stack) -> tuple[int, int, int]:
    conn = await asyncpg.connect(stack.database_url)
    try:
        return (
            await conn.fetchval("SELECT count(*) FROM orders.orders"),
            await conn.fetchval("SELECT count(*) FROM orders.holds"),
            await conn.fetchval("SELECT count(*) FROM orders.idempotency_keys"),
        )
    finally:
        await conn.close()


async def test_a_stuck_reservation_answers_504_before_the_budget(stack: Stack) -> None:
    orders = await stack.start_orders(recovery_seconds=0.1, budget_margin_seconds=0.2)
    before = await stock_of(stack, 2)
    blocker = await asyncpg.connect(stack.database_url)
    tx = blocker.transaction()
    await tx.start()
    await blocker.execute("SELECT 1 FROM products.products WHERE id = 2 FOR UPDATE")
    try:
        started = time.monotonic()
        resp = await orders.post(
            "/orders",
            json=BODY,
            headers={"X-Request-Budget-Ms": "800", "Idempotency-Key": '"slow-1"'},
        )
        elapsed = time.monotonic() - started
        await expect_error(resp, 504, "deadline_exceeded")
        assert elapsed < 0.8, elapsed  # answered before the caller's budget ran out
    finally:
        await tx.rollback()
        await blocker.close()
    # The reservation that went through after the 504 is given back; nothing is stored.
    await until(lambda: _settled(stack, before), timeout=10)
    assert await counts(stack) == (0, 0, 0)
    # The key was let go: the retry places the order.
    retry = await orders.post("/orders", json=BODY, headers={"Idempotency-Key": '"slow-1"'})
    assert retry.status == 201, await retry.text()
    assert await stock_of(stack, 2) == before - 3


async def _settled(stack: Stack, stock: int) -> bool:
    return await stock_of(stack, 2) == stock and (await counts(stack))[1] == 0


async def test_no_budget_left_is_504_at_once_without_side_effects(stack: Stack) -> None:
    before = await stock_of(stack, 2)
    resp = await stack.orders.post("/orders", json=BODY, headers={"X-Request-Budget-Ms": "100"})
    await expect_error(resp, 504, "deadline_exceeded")
    assert await stock_of(stack, 2) == before
    assert await counts(stack) == (0, 0, 0)


async def test_a_malformed_budget_is_ignored(stack: Stack) -> None:
    for value in ("abc", "9" * 4301, "-5", "1e3"):
        resp = await stack.orders.post("/orders", json=BODY, headers={"X-Request-Budget-Ms": value})
        assert resp.status == 201, await resp.text()
