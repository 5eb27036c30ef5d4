"""Single-flight semantics: one call per key at a time, shared outcome, safe cancellation."""

from __future__ import annotations

import asyncio

import pytest

from shopnet.product.singleflight import SingleFlight


async def test_concurrent_callers_share_one_call() -> None:
    flight: SingleFlight[str, int] = SingleFlight()
    calls = 0
    release = asyncio.Event()

    async def load() -> int:
        nonlocal calls
        calls += 1
        await release.wait()
        return 42

    waiters = [asyncio.create_task(flight.do("k", load)) for _ in range(10)]
    await asyncio.sleep(0)
    release.set()
    assert await asyncio.gather(*waiters) == [42] * 10
    assert calls == 1 and len(flight) == 0
    # Done calls are not cached: the next caller loads again.
    assert await flight.do("k", load) == 42 and calls == 2


async def test_failure_reaches_every_caller_and_is_not_kept() -> None:
    flight: SingleFlight[str, int] = SingleFlight()
    release = asyncio.Event()

    async def boom() -> int:
        await release.wait()
        raise RuntimeError("db down")

    waiters = [asyncio.create_task(flight.do("k", boom)) for _ in range(3)]
    await asyncio.sleep(0)
    release.set()
    results = await asyncio.gather(*waiters, return_exceptions=True)
    assert all(isinstance(r, RuntimeError) for r in results)

    async def fine() -> int:
        return 1

    assert await flight.do("k", fine) == 1


async def test_a_cancelled_caller_does_not_cancel_the_call() -> None:
    flight: SingleFlight[str, int] = SingleFlight()
    release = asyncio.Event()

    async def load() -> int:
        await release.wait()
        return 7

    first = asyncio.create_task(flight.do("k", load))
    second = asyncio.create_task(flight.do("k", load))
    await asyncio.sleep(0)
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    release.set()
    assert await second == 7


async def test_forget_makes_later_callers_start_a_new_call() -> None:
    """What a write does: a request after it must not join a load that began before it."""
    flight: SingleFlight[str, str] = SingleFlight()
    release = asyncio.Event()

    async def before_write() -> str:
        await release.wait()
        return "old"

    async def after_write() -> str:
        return "new"

    early = asyncio.create_task(flight.do("k", before_write))
    await asyncio.sleep(0)
    flight.forget("k")
    assert await flight.do("k", after_write) == "new"
    release.set()
    assert await early == "old"
