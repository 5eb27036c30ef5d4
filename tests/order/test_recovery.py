"""A real order service process killed (SIGKILL) between reserving stock and storing the
order: the reservation it left behind is *released* by recovery once the order's deadline
has passed (the client was told nothing, so it retries — with its key, as a new order)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Iterator

import aiohttp
import asyncpg
import pytest

from tests.order.conftest import ADMIN_CALLER, Stack, stock_of
from tests.support.servers import free_port
from tests.support.waiting import until


@pytest.fixture
def order_process(stack: Stack, tmp_path) -> Iterator:
    """Start `shopnet serve order` on a free port; returns (start, port); kills at the end."""
    port = free_port()
    procs: list[subprocess.Popen] = []

    def start() -> subprocess.Popen:
        env = {
            "PATH": os.environ["PATH"],
            "DATABASE_URL": stack.database_url,
            "SERVICE_REGISTRY": stack.registry_url,
            "SHOPNET_REGISTER": "false",
            "SHOPNET_BIND": "127.0.0.1",
            "SHOPNET_PORT": str(port),
            "SHOPNET_DISCOVERY_WAIT_SECONDS": "1",
            "SHOPNET_ORDER_BUDGET_SECONDS": "2",
            "SHOPNET_ORDER_RECOVERY_SECONDS": "0.2",
        }
        log = open(tmp_path / f"order-{len(procs)}.log", "wb")  # noqa: SIM115
        proc = subprocess.Popen(
            [sys.executable, "-m", "shopnet", "serve", "order"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        procs.append(proc)
        return proc

    yield start, port
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


async def ready(port: int) -> bool:
    try:
        async with aiohttp.ClientSession() as session:
            resp = await session.get(f"http://127.0.0.1:{port}/ready")
            body = await resp.json()
            return body.get("checks", {}).get("product", {}).get("status") == "ok"
    except aiohttp.ClientError:
        return False


async def test_a_killed_order_service_leaves_no_stock_reserved(stack: Stack, order_process) -> None:
    start, port = order_process
    proc = start()
    await until(lambda: ready(port), timeout=20, interval=0.1)
    before = await stock_of(stack, 2)
    body = {"customer_id": "c-crash", "items": [{"product_id": 2, "quantity": 4}]}
    headers = {"Idempotency-Key": '"crash-1"', **ADMIN_CALLER}

    # Hold the orders table: the order reserves its stock, then blocks storing itself.
    blocker = await asyncpg.connect(stack.database_url)
    tx = blocker.transaction()
    await tx.start()
    await blocker.execute("LOCK TABLE orders.orders IN ACCESS EXCLUSIVE MODE")
    session = aiohttp.ClientSession()
    pending = asyncio.ensure_future(
        session.post(f"http://127.0.0.1:{port}/orders", json=body, headers=headers)
    )
    try:
        await until(lambda: _stock_is(stack, 2, before - 4), timeout=10)
        proc.send_signal(signal.SIGKILL)  # between the steps: reserved, not stored
        proc.wait()
        with pytest.raises(aiohttp.ClientError):
            await pending
    finally:
        await tx.rollback()
        await blocker.close()
        await session.close()
    assert await stock_of(stack, 2) == before - 4  # still held: nobody released it yet

    start()  # recovery runs at start and then every 0.2 s
    await until(lambda: _stock_is(stack, 2, before), timeout=20, interval=0.1)
    conn = await asyncpg.connect(stack.database_url)
    try:
        assert await conn.fetchval("SELECT count(*) FROM orders.orders") == 0
        assert await conn.fetchval("SELECT count(*) FROM orders.holds") == 0
        assert await conn.fetchval("SELECT count(*) FROM orders.idempotency_keys") == 0
        released = await conn.fetchval(
            "SELECT count(*) FROM products.reservations WHERE state = 'released'"
        )
        assert released == 1
    finally:
        await conn.close()

    # The client's retry with its key is a fresh order, taking the stock once.
    await until(lambda: ready(port), timeout=20, interval=0.1)
    async with aiohttp.ClientSession() as session:
        resp = await session.post(f"http://127.0.0.1:{port}/orders", json=body, headers=headers)
        assert resp.status == 201, await resp.text()
    assert await stock_of(stack, 2) == before - 4


async def _stock_is(stack: Stack, product_id: int, expected: int) -> bool:
    return await stock_of(stack, product_id) == expected
