"""Local mode end to end: the real `shopnet` command, real processes, real Redis and PostgreSQL."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.edge import (
    assert_admin_only_on_the_admin_listener,
    assert_reservations_need_the_token,
    assert_the_gateway_answers_oversized_heads_itself,
    assert_token_file_is_private,
    assert_who_may_do_what,
    forge_argv,
)
from tests.support.servers import scratch_dir
from tests.support.stack import (
    bearer,
    leftovers,
    request,
    require_default_resources,
    shopnet,
    status,
)

pytestmark = pytest.mark.slow

GATEWAY = "http://127.0.0.1:8080"
CLEAN = {"records": [], "tagged": [], "state": False}


@pytest.fixture(scope="module")
def root() -> Iterator[Path]:
    require_default_resources("local")
    path = scratch_dir("shopnet-e2e-local-")
    yield path
    shopnet(path, "down", "--mode", "local", "--volumes", check=False)


@pytest.fixture(scope="module")
def stack(root: Path) -> Path:
    result = shopnet(root, "up", "--mode", "local", "--scale", "product=3")
    assert result.stdout.strip() == f"{GATEWAY}/api/products"
    assert "ready" in result.stderr or "done" in result.stderr  # progress was printed
    return root


def test_products_are_listed_through_the_gateway(stack: Path) -> None:
    resp = request(f"{GATEWAY}/api/products?page=1&page_size=5")
    assert resp.status == 200
    assert resp.body["page"] == 1 and resp.body["page_size"] == 5
    assert len(resp.body["items"]) == 5
    assert resp.body["total"] >= 1000
    product = resp.body["items"][0]
    assert set(product) >= {
        "id",
        "sku",
        "name",
        "description",
        "price_cents",
        "currency",
        "stock",
        "updated_at",
    }
    assert resp.headers["X-Request-ID"]
    assert resp.headers["X-Served-By"].startswith("product-")


def test_an_order_is_created_and_read_back(stack: Path) -> None:
    product = request(f"{GATEWAY}/api/products/1").body
    customer = bearer(stack, "local", "c-e2e")
    created = request(
        f"{GATEWAY}/api/orders",
        method="POST",
        body={"customer_id": "c-e2e", "items": [{"product_id": 1, "quantity": 2}]},
        headers=customer,
    )
    assert created.status == 201, created.body
    order = created.body
    assert order["total_cents"] == 2 * product["price_cents"]
    assert order["items"] == [
        {"product_id": 1, "quantity": 2, "unit_price_cents": product["price_cents"]}
    ]
    read = request(f"{GATEWAY}/api/orders/{order['id']}", headers=customer)
    assert read.status == 200 and read.body == order
    listing = request(f"{GATEWAY}/api/orders?customer_id=c-e2e", headers=customer)
    assert order["id"] in [o["id"] for o in listing.body["items"]]


def test_who_may_do_what(stack: Path) -> None:
    assert_who_may_do_what(GATEWAY, lambda customer: bearer(stack, "local", customer))


def test_three_product_instances_take_turns(stack: Path) -> None:
    served = [request(f"{GATEWAY}/api/products/{i}").headers["X-Served-By"] for i in range(1, 10)]
    assert len(set(served)) == 3, served
    assert served[:3] == served[3:6] == served[6:9], served  # strict round-robin


def test_status_shows_every_instance_ready(stack: Path) -> None:
    rows = {r["instance"]: r for r in status(stack, "local")}
    expected = {
        "postgres-1",
        "redis-1",
        "registry-1",
        "product-1",
        "product-2",
        "product-3",
        "order-1",
        "gateway-1",
    }
    assert set(rows) == expected
    assert all(r["health"] in {"ready", "degraded"} and r["pid"] for r in rows.values()), rows
    assert rows["gateway-1"]["address"] == "127.0.0.1:8080"


def test_the_public_edge_leaks_nothing_internal(stack: Path) -> None:
    assert_admin_only_on_the_admin_listener(GATEWAY, "http://127.0.0.1:9080")
    assert_the_gateway_answers_oversized_heads_itself(GATEWAY)


def test_the_registry_refuses_forged_registrations(stack: Path) -> None:
    # The product service's own token: it writes product instances, nothing else.
    token_file = stack / "local" / "data" / "secrets" / "product" / "registry-token"
    pids = [r["pid"] for r in status(stack, "local") if r["pid"]]
    assert_token_file_is_private(token_file, pids)
    order = {"service": "order", "address": "127.0.0.1", "port": 4444}
    product = {**order, "service": "product"}
    attempts = [
        ("PUT", "/v1/instances/order-1", order, False),  # no token
        ("PUT", "/v1/instances/order-1", order, True),  # another service's instance
        ("PUT", "/v1/instances/order-1/heartbeat", None, True),
        ("DELETE", "/v1/instances/order-1", None, True),
        ("PUT", "/v1/instances/order-9", order, True),  # another service, new id
        ("PUT", "/v1/instances/gateway-9", {**order, "service": "gateway"}, True),
        ("PUT", "/v1/instances/product-1", product, True),  # its own service: not its identity
        ("PUT", "/v1/instances/product-9", {**product, "address": "127.0.0.2"}, True),  # spoofed
        ("PUT", "/v1/instances/product-9", {**product, "address": "169.254.169.254"}, True),
    ]
    result = subprocess.run(
        forge_argv("http://127.0.0.1:8500", token_file, attempts),
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(result.stdout) == [401, 403, 403, 403, 403, 403, 409, 403, 400]
    served = request(f"{GATEWAY}/api/orders?customer_id=nobody", headers=bearer(stack, "local"))
    assert served.status == 200 and served.headers["X-Served-By"] == "order-1"


def test_reservations_need_the_internal_token(stack: Path) -> None:
    token_file = stack / "local" / "data" / "secrets" / "product" / "internal-callers"
    pids = [r["pid"] for r in status(stack, "local") if r["pid"]]
    assert_reservations_need_the_token("http://127.0.0.1:3001", token_file, pids)


def test_up_twice_is_refused_and_harms_nothing(stack: Path) -> None:
    result = shopnet(stack, "up", "--mode", "local", check=False)
    assert result.returncode == 4
    assert "already running" in result.stderr
    assert request(f"{GATEWAY}/api/products/1").status == 200


def test_gateway_keeps_answering_when_a_product_instance_dies(stack: Path) -> None:
    victim = next(r for r in status(stack, "local") if r["instance"] == "product-2")
    os.kill(victim["pid"], signal.SIGKILL)
    answers = [request(f"{GATEWAY}/api/products/{1 + i % 50}") for i in range(30)]
    assert [a.status for a in answers] == [200] * 30
    assert "product-2" not in {a.headers["X-Served-By"] for a in answers[-10:]}
    # The supervisor starts it again (it needs ~1 s, far longer than the 30 answers above).
    deadline = time.monotonic() + 20
    while (row := {r["instance"]: r for r in status(stack, "local")}["product-2"])[
        "health"
    ] != "ready":
        assert time.monotonic() < deadline, row
        time.sleep(0.2)
    assert row["pid"] != victim["pid"] and row["restarts"] == 1


def test_down_leaves_nothing_behind(stack: Path) -> None:
    result = shopnet(stack, "down", "--mode", "local")
    assert "removed" in result.stderr
    assert leftovers(stack, "local") == CLEAN
    for port in (8080, 9080, 3001, 3011, 3021, 3002, 8500, 15432, 16379):
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(("127.0.0.1", port))  # no listener left
    again = shopnet(stack, "down", "--mode", "local")  # idempotent
    assert again.returncode == 0


def test_port_in_use_is_a_clear_error_and_nothing_starts(tmp_path: Path) -> None:
    root = scratch_dir("shopnet-e2e-port-")
    with socket.socket() as blocker:
        blocker.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        blocker.bind(("127.0.0.1", 8080))
        blocker.listen()
        result = shopnet(root, "up", "--mode", "local", check=False)
    assert result.returncode == 3, result.stderr
    assert "port 8080" in result.stderr and "in use" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1  # one line, no traceback
    assert leftovers(root, "local") == CLEAN


def _start_up_in_background(root: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "shopnet", "--state-dir", str(root), "up", "--mode", "local"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


@pytest.mark.parametrize("delay", [0.3, 1.5, 4.0])
def test_kill_9_of_up_then_down_converges(delay: float) -> None:
    root = scratch_dir("shopnet-e2e-crash-")
    up = _start_up_in_background(root)
    time.sleep(delay)  # a point somewhere in start-up; each delay hits a different step
    up.kill()
    up.wait()
    shopnet(root, "down", "--mode", "local", "--volumes")
    assert leftovers(root, "local") == CLEAN
    # The machine is usable again: a fresh stack comes up and goes down cleanly.
    shopnet(root, "up", "--mode", "local")
    assert request(f"{GATEWAY}/api/products/1").status == 200
    shopnet(root, "down", "--mode", "local", "--volumes")
    assert leftovers(root, "local") == CLEAN


def test_leftovers_of_a_crashed_run_are_named(tmp_path: Path) -> None:
    root = scratch_dir("shopnet-e2e-leftover-")
    up = _start_up_in_background(root)
    pids = root / "local" / "pids"
    deadline = time.monotonic() + 60
    while not (pids.exists() and any(pids.glob("*.pid"))):
        assert time.monotonic() < deadline, "up never started a process"
        time.sleep(0.05)
    up.kill()
    up.wait()
    again = shopnet(root, "up", "--mode", "local", check=False)
    assert again.returncode == 4
    assert "leftovers of a crashed run" in again.stderr and "shopnet down" in again.stderr
    shopnet(root, "down", "--mode", "local", "--volumes")
    assert leftovers(root, "local") == CLEAN
