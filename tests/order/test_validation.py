"""Bad input to the order service: a 4xx JSON error naming the problem, and nothing stored."""

from __future__ import annotations

import json
from typing import Any

import asyncpg
import pytest

from tests.order.conftest import Stack
from tests.product.helpers import expect_error

NOT_JSON = object()


def items(*pairs: tuple[Any, Any]) -> list[dict[str, Any]]:
    return [{"product_id": p, "quantity": q} for p, q in pairs]


V = "validation_failed"


def order(customer: Any = "c-1", lines: Any = None, **extra: Any) -> dict[str, Any]:
    return {"customer_id": customer, "items": items((1, 1)) if lines is None else lines, **extra}


BAD_ORDERS: list[tuple[str, Any, int, str]] = [
    ("invalid JSON", NOT_JSON, 400, "invalid_json"),
    ("empty body", b"", 400, "invalid_json"),
    ("invalid UTF-8", b'{"customer_id": "\xff"}', 400, "invalid_json"),
    ("array body", [order()], 400, V),
    ("missing customer", {"items": items((1, 1))}, 400, V),
    ("missing items", {"customer_id": "c-1"}, 400, V),
    ("empty customer", order(""), 400, V),
    ("blank customer", order("  "), 400, V),
    ("long customer", order("c" * 129), 400, V),
    ("customer with newline", order("c-1\n"), 400, V),
    ("customer as int", order(42), 400, V),
    ("null customer", order(None), 400, V),
    ("no items", order(lines=[]), 400, V),
    ("101 items", order(lines=items(*((i, 1) for i in range(1, 102)))), 400, V),
    ("items not a list", order(lines={"product_id": 1, "quantity": 1}), 400, V),
    ("product_id 0", order(lines=items((0, 1))), 400, V),
    ("negative product", order(lines=items((-4, 1))), 400, V),
    ("product as string", order(lines=items(("1", 1))), 400, V),
    ("product beyond int64", order(lines=items((2**64, 1))), 400, V),
    ("quantity 0", order(lines=items((1, 0))), 400, V),
    ("negative quantity", order(lines=items((1, -2))), 400, V),
    ("quantity 1001", order(lines=items((1, 1001))), 400, V),
    ("absurd quantity", order(lines=items((1, 10**12))), 400, V),
    ("float quantity", order(lines=items((1, 1.5))), 400, V),
    ("null quantity", order(lines=items((1, None))), 400, V),
    ("duplicate lines", order(lines=items((1, 1), (2, 1), (1, 3))), 422, "duplicate_products"),
    ("unknown field", order(total_cents=1), 400, V),
    ("unknown line field", order(lines=[{"product_id": 1, "quantity": 1, "price": 0}]), 400, V),
    ("unknown product", order(lines=items((424242, 1))), 422, "unknown_products"),
]


@pytest.mark.parametrize(
    ("case", "payload", "status", "code"), BAD_ORDERS, ids=[c[0] for c in BAD_ORDERS]
)
async def test_bad_orders(stack: Stack, case: str, payload: Any, status: int, code: str) -> None:
    if payload is NOT_JSON or isinstance(payload, bytes):
        data = b'{"customer_id": ' if payload is NOT_JSON else payload
        resp = await stack.orders.post(
            "/orders", data=data, headers={"Content-Type": "application/json"}
        )
    else:
        resp = await stack.orders.post("/orders", json=payload)
    await expect_error(resp, status, code)
    conn = await asyncpg.connect(stack.database_url)
    try:
        assert await conn.fetchval("SELECT count(*) FROM orders.orders") == 0
    finally:
        await conn.close()


async def test_duplicate_lines_are_named(stack: Stack) -> None:
    body = {"customer_id": "c-1", "items": items((3, 1), (2, 1), (3, 3), (2, 1))}
    error = await expect_error(await stack.orders.post("/orders", json=body), 422)
    assert error["details"] == {"duplicate_product_ids": [2, 3]}


async def test_integral_floats_are_integers(stack: Stack) -> None:
    """JSON Schema's integer includes 1.0 and 1e0; the API declares integers, so it takes them."""
    data = b'{"customer_id": "c-1", "items": [{"product_id": 1.0, "quantity": 2e0}]}'
    resp = await stack.orders.post(
        "/orders", data=data, headers={"Content-Type": "application/json"}
    )
    assert resp.status == 201, await resp.text()
    assert (await resp.json())["items"][0]["quantity"] == 2


async def test_oversized_body_is_413(stack: Stack) -> None:
    orders = await stack.start_orders(max_body_bytes=2048)
    body = {"customer_id": "c-1", "items": items(*((i, 1) for i in range(1, 101)))}
    assert len(json.dumps(body)) > 2048  # a valid order, only too large for this limit
    await expect_error(await orders.post("/orders", json=body), 413, "payload_too_large")


@pytest.mark.parametrize(
    "key", ["", "x" * 256, "naïve-key", "tab\tkey"], ids=["empty", "long", "non-ascii", "control"]
)
async def test_bad_idempotency_keys_are_400(stack: Stack, key: str) -> None:
    body = {"customer_id": "c-1", "items": items((1, 1))}
    resp = await stack.orders.post(
        "/orders", json=body, headers={"Idempotency-Key": key.encode("utf-8").decode("latin-1")}
    )
    await expect_error(resp, 400, "validation_failed")


@pytest.mark.parametrize(
    "path",
    [
        "/orders/not-a-uuid",
        "/orders/123",
        "/orders/00000000-0000-0000-0000-00000000000g",
        "/orders/" + "a" * 300,
        "/orders/%00",
    ],
)
async def test_malformed_order_ids_are_400(stack: Stack, path: str) -> None:
    await expect_error(await stack.orders.get(path), 400, "validation_failed")


async def test_unknown_order_is_404(stack: Stack) -> None:
    resp = await stack.orders.get("/orders/6f1c7a8e-3b1a-4c3e-9d4e-2f0a1b2c3d4e")
    await expect_error(resp, 404, "not_found")


@pytest.mark.parametrize(
    "query",
    [
        "",
        "customer_id=",
        "page=2",
        "customer_id=c-1&page=0",
        "customer_id=c-1&page=-1",
        "customer_id=c-1&page=abc",
        "customer_id=c-1&page_size=0",
        "customer_id=c-1&page_size=1000",
        "customer_id=c-1&page_size=x",
        "customer_id=" + "c" * 129,
        "customer_id=%20c",
        "customer_id=c-1%0A",
        "customer_id=c-1&page=",
        "customer_id=c-1&sort=desc",
    ],
)
async def test_bad_order_listings_are_400(stack: Stack, query: str) -> None:
    await expect_error(await stack.orders.get(f"/orders?{query}"), 400, "validation_failed")


async def test_wrong_method_is_405_json(stack: Stack) -> None:
    await expect_error(await stack.orders.delete("/orders"), 405, "method_not_allowed")
    resp = await stack.orders.put("/orders/6f1c7a8e-3b1a-4c3e-9d4e-2f0a1b2c3d4e", json={})
    await expect_error(resp, 405, "method_not_allowed")
