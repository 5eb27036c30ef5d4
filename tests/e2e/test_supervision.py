"""Self-healing in local and netns mode: the supervisor restarts what crashes, and nothing else.

One stack per mode, in a private state directory; each test kills something of it
with SIGKILL and measures how long until it serves again.
"""

from __future__ import annotations

import os
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.servers import scratch_dir
from tests.support.stack import (
    bearer,
    leftovers,
    request,
    require_default_resources,
    shopnet,
    status,
)

pytestmark = [pytest.mark.slow]

GATEWAY = "http://127.0.0.1:8080"
CLEAN = {"records": [], "tagged": [], "state": False}
BACK_WITHIN = 20.0
"""Seconds an instance killed once may take to serve again (backoff starts at 0.1 s)."""


@pytest.fixture(scope="module", params=["local", "netns"])
def stack(request: pytest.FixtureRequest) -> Iterator[tuple[Path, str]]:
    mode = request.param
    if mode == "netns" and os.geteuid() != 0:
        pytest.skip("netns mode needs root")
    require_default_resources(mode)
    root = scratch_dir(f"shopnet-e2e-supervise-{mode}-")
    shopnet(root, "up", "--mode", mode, "--scale", "product=2")
    yield root, mode
    shopnet(root, "down", "--mode", mode, "--volumes", check=False)


def row(stack: tuple[Path, str], instance: str) -> dict:
    return next(r for r in status(*stack) if r["instance"] == instance)


def wait_until(what: str, ok, timeout: float) -> float:
    """Seconds until ok() is true; fails after `timeout`."""
    started = time.monotonic()
    while not ok():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"{what}: not within {timeout:.0f} s")
        time.sleep(0.1)
    return time.monotonic() - started


def get_ok(url: str, headers: dict[str, str], timeout: float = 10.0) -> dict:
    """GET until 200: a pool may still hand out a connection the database restart broke."""
    deadline = time.monotonic() + timeout
    while (answer := request(url, headers=headers)).status >= 500 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert answer.status == 200, (url, answer.status, answer.body)
    return answer.body


def test_a_killed_instance_comes_back_healthy_and_serving(stack: tuple[Path, str]) -> None:
    before = row(stack, "product-1")
    os.kill(before["pid"], signal.SIGKILL)

    def serving() -> bool:
        now = row(stack, "product-1")
        if now["pid"] in (None, before["pid"]) or now["health"] != "ready":
            return False
        return request(f"http://{now['address']}/products/1", timeout=2).status == 200

    took = wait_until("product-1 serving again", serving, BACK_WITHIN)
    after = row(stack, "product-1")
    assert after["restarts"] == before["restarts"] + 1
    assert after["last_exit"] in ("signal SIGKILL", "unknown")  # unknown: reaped by init first
    assert request(f"{GATEWAY}/api/products/1").status == 200
    print(f"\n{stack[1]}: product-1 serving again {took:.1f} s after SIGKILL")


def test_postgres_killed_under_order_load_recovers_and_loses_no_order(
    stack: tuple[Path, str],
) -> None:
    """Clients retry with the same Idempotency-Key until acknowledged, as a real client would."""
    run = uuid.uuid4().hex[:8]
    admin = bearer(*stack)  # as an operator's tool would: admins are not rate-limited
    acked: dict[str, list[int]] = {}
    stop = threading.Event()
    killed_at: list[float] = []
    first_failure: list[float] = []
    """When the first request after the kill failed: the outage, as clients saw it."""
    first_ok_after_kill: list[float] = []
    """When a request sent after that failure was acknowledged: recovered."""
    unanswered: dict[str, int] = {}
    """Per client, 1 when it stopped with a key sent but never acknowledged (may be stored)."""

    def client(n: int) -> None:
        customer = f"c-{run}-{n}"
        acked[customer] = []
        while not stop.is_set():
            key = uuid.uuid4().hex
            unanswered[customer] = 1
            while not stop.is_set():  # the same key until acknowledged
                sent = time.monotonic()
                try:
                    answer = request(
                        f"{GATEWAY}/api/orders",
                        method="POST",
                        body={
                            "customer_id": customer,
                            "items": [{"product_id": 1 + n, "quantity": 1}],
                        },
                        headers={"Idempotency-Key": key, **admin},
                        timeout=5,
                    )
                except OSError:
                    answer = None
                if answer is not None and answer.status == 201:
                    acked[customer].append(answer.body["id"])
                    unanswered[customer] = 0
                    if first_failure and sent > first_failure[0] and not first_ok_after_kill:
                        first_ok_after_kill.append(time.monotonic())
                    break
                if killed_at and not first_failure:
                    first_failure.append(time.monotonic())
                time.sleep(0.05)

    # Orders reserve stock: enough of it that no order fails for want of stock.
    for n in range(4):
        stocked = request(
            f"{GATEWAY}/api/products/{1 + n}",
            method="PATCH",
            body={"stock": 1_000_000},
            headers=admin,
        )
        assert stocked.status == 200, stocked.body
    threads = [threading.Thread(target=client, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(2.0)
        victim = row(stack, "postgres-1")
        os.kill(victim["pid"], signal.SIGKILL)
        killed_at.append(time.monotonic())
        wait_until("orders acknowledged again", lambda: bool(first_ok_after_kill), 60.0)
        time.sleep(1.0)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
    recovery = first_ok_after_kill[0] - killed_at[0]
    outage = first_ok_after_kill[0] - first_failure[0]
    assert row(stack, "postgres-1")["restarts"] >= 1
    total = 0
    for customer, ids in acked.items():
        assert len(ids) == len(set(ids))
        listed = get_ok(f"{GATEWAY}/api/orders?customer_id={customer}&page_size=100", admin)
        # None lost (>= acked) and none twice (at most the one key left unanswered on top).
        assert len(ids) <= listed["total"] <= len(ids) + unanswered[customer], (
            f"{customer}: {listed['total']} stored, {len(ids)} acked"
        )
        for order_id in ids:
            get_ok(f"{GATEWAY}/api/orders/{order_id}", admin)
        total += len(ids)
    assert total > 0
    print(
        f"\n{stack[1]}: orders again {recovery:.1f} s after postgres SIGKILL (failing for {outage:.1f} s); {total} acked, 0 lost"
    )


def test_down_after_kill_9_of_the_supervisor_converges(stack: tuple[Path, str]) -> None:
    root, mode = stack
    victim = row(stack, "product-2")
    supervisor = int((root / mode / "pids" / "supervisor.pid").read_text().split()[0])
    os.kill(supervisor, signal.SIGKILL)
    os.kill(victim["pid"], signal.SIGKILL)  # nobody restarts it now
    time.sleep(1.0)
    assert row(stack, "product-2")["health"] == "down"
    again = shopnet(root, "up", "--mode", mode, check=False)
    assert again.returncode == 4 and "supervisor was not running" in again.stderr
    shopnet(root, "down", "--mode", mode)
    assert leftovers(root, mode) == CLEAN
    if mode == "netns":
        from tests.e2e.test_netns import nothing_left

        assert nothing_left(root) == []
