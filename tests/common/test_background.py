"""Stopping background tasks: a cancellation lost on the way must not keep a task (and
the app whose cleanup waits for it) alive; issue 23, Python 3.11's `asyncio.wait_for`."""

from __future__ import annotations

import asyncio
import random

from shopnet.common.background import cancel_and_wait
from shopnet.common.metrics import ServiceMetrics
from shopnet.product import cache


async def loses_its_first_cancellation(cancels: list[int]) -> None:
    """Runs on after its first cancellation, as a loop does when wait_for swallows it."""
    while True:
        try:
            await asyncio.sleep(0.01)
        except asyncio.CancelledError:
            cancels.append(1)
            if len(cancels) > 1:
                raise


async def test_a_lost_cancellation_is_repeated() -> None:
    cancels: list[int] = []
    task = asyncio.create_task(loses_its_first_cancellation(cancels))
    await asyncio.sleep(0.02)
    task.cancel()
    await asyncio.wait((task,), timeout=0.3)
    assert not task.done()  # one cancel is not enough for such a task
    async with asyncio.timeout(2):
        await cancel_and_wait(task)
    assert task.cancelled() and len(cancels) == 2


async def test_the_cache_probe_always_stops(redis_url: str) -> None:
    """The real probe on the real Redis, stopped at varied points of its ping: a single
    cancel left it running in about a third of the rounds (redis-py's wait_for)."""
    client = cache.connect(redis_url, timeout=1.0, max_connections=4)
    metrics = cache.CacheMetrics(ServiceMetrics("test"))
    probe = cache.ProductCache(client, ttl=60, probe_interval=0, metrics=metrics)
    rng = random.Random(23)
    for round_ in range(60):
        task = asyncio.create_task(probe.run_probe())
        for _ in range(rng.randrange(1, 40)):
            await asyncio.sleep(0)
        stopping = asyncio.create_task(cancel_and_wait(task))
        await asyncio.wait((stopping,), timeout=2)
        if not stopping.done():
            await _stop_for_good(task, stopping)
            raise AssertionError(f"round {round_}: the probe ran on after it was stopped")
    await probe.close()


async def _stop_for_good(*tasks: asyncio.Task[None]) -> None:
    """Without the helper under test: a task left running would hang the loop's close."""
    while not all(t.done() for t in tasks):
        for t in tasks:
            t.cancel()
        await asyncio.wait(tasks, timeout=0.05)
