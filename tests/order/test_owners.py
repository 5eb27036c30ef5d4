"""Orders belong to customers: the caller is what the gateway says (shopnet.common.identity)."""

from __future__ import annotations

from tests.order.conftest import Stack
from tests.order.test_orders import order_body

ALICE = {"X-Shopnet-Role": "customer", "X-Shopnet-Customer": "alice"}
BOB = {"X-Shopnet-Role": "customer", "X-Shopnet-Customer": "bob"}
NOBODY = {"X-Shopnet-Role": ""}


async def test_a_customer_places_reads_lists_and_cancels_only_its_own(stack: Stack) -> None:
    orders = stack.orders
    placed = await orders.post("/orders", json=order_body("alice"), headers=ALICE)
    assert placed.status == 201, await placed.text()
    location = placed.headers["Location"]

    as_bob = await orders.post("/orders", json=order_body("alice"), headers=BOB)
    assert as_bob.status == 403
    assert (await as_bob.json())["error"]["code"] == "forbidden"
    assert (await orders.get(location, headers=BOB)).status == 403
    assert (await orders.get("/orders?customer_id=alice", headers=BOB)).status == 403
    assert (await orders.post(f"{location}/cancel", headers=BOB)).status == 403
    assert (await orders.get(location, headers=ALICE)).status == 200  # still placed

    listed = await orders.get("/orders?customer_id=alice", headers=ALICE)
    assert [o["id"] for o in (await listed.json())["items"]] == [location.rsplit("/", 1)[1]]
    cancelled = await orders.post(f"{location}/cancel", headers=ALICE)
    assert cancelled.status == 200
    assert (await cancelled.json())["status"] == "cancelled"
    assert (await orders.get(location)).status == 200  # the admin (the client's default)


async def test_a_request_without_a_caller_is_refused(stack: Stack) -> None:
    for method, path in (
        ("POST", "/orders"),
        ("GET", "/orders?customer_id=alice"),
        ("GET", "/orders/00000000-0000-4000-8000-000000000000"),
        ("POST", "/orders/00000000-0000-4000-8000-000000000000/cancel"),
    ):
        resp = await stack.orders.request(method, path, json=order_body("alice"), headers=NOBODY)
        assert resp.status == 401, (method, path)
        assert resp.headers["WWW-Authenticate"] == "Bearer"
    forged = {"X-Shopnet-Role": "customer", "X-Shopnet-Customer": "bad id\t"}
    assert (await stack.orders.get("/orders?customer_id=alice", headers=forged)).status == 401
