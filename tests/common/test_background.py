"""Stopping background tasks: a cancellation lost on the way must not keep a task (and
the app whose cleanup waits for it) alive; issue 23, Python 3.11's `asyncio.wait_for`."""

from __future__ import annotations

import asyncio
import contextlib
import random

from shopnet.common.background import cancel_and_wait, pause
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


async def test_one_cancel_stops_the_cache_probe_even_when_a_ping_swallows_it(
    redis_url: str,
) -> None:
    """The real probe on the real Redis, cancelled once at varied points of its ping: redis-py's
    wait_for swallowed about a third of those cancels, and the probe ran on (re-cancelling
    every 0.1 s once took over 2 s in CI). Its `pause` ends it at its next wait instead."""
    client = cache.connect(redis_url, timeout=1.0, max_connections=4)
    metrics = cache.CacheMetrics(ServiceMetrics("test"))
    probe = cache.ProductCache(client, ttl=60, probe_interval=0, metrics=metrics)
    rng = random.Random(23)
    try:
        for round_ in range(60):
            task = asyncio.create_task(probe.run_probe())
            for _ in range(rng.randrange(1, 40)):
                await asyncio.sleep(0)
            task.cancel()
            # A ping gives up after its 1 s socket timeout; a probe that lost its cancel
            # without `pause` would never end.
            await asyncio.wait((task,), timeout=5)
            if not task.done():
                await _stop_for_good(task)
                raise AssertionError(f"round {round_}: the probe ran on after one cancel")
            assert task.cancelled()
    finally:
        await probe.close()


async def test_pause_ends_a_task_whose_cancellation_was_swallowed() -> None:
    async def swallows_then_pauses() -> None:
        # as Python 3.11's wait_for does when its inner call has just finished
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.sleep(10)
        await pause(10)

    task = asyncio.create_task(swallows_then_pauses())
    await asyncio.sleep(0)
    task.cancel()
    await asyncio.wait((task,), timeout=1)
    assert task.cancelled()


async def _stop_for_good(*tasks: asyncio.Task[None]) -> None:
    """Without the helper under test: a task left running would hang the loop's close."""
    while not all(t.done() for t in tasks):
        for t in tasks:
            t.cancel()
        await asyncio.wait(tasks, timeout=0.05)
