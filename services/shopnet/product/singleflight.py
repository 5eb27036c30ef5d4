"""Single-flight: concurrent callers asking for the same key share one call.

When a hot product falls out of the cache, the requests that miss together make
one database query instead of one each (the "thundering herd"). The call runs
as its own task, so a caller being cancelled never cancels it for the others.
`forget` drops an in-flight call after a write, so that a request arriving
after the write never joins a load that started before it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class SingleFlight(Generic[K, V]):
    def __init__(self) -> None:
        self._calls: dict[K, asyncio.Task[V]] = {}

    async def do(self, key: K, call: Callable[[], Awaitable[V]]) -> V:
        task = self._calls.get(key)
        if task is None:
            task = asyncio.ensure_future(call())
            self._calls[key] = task
            task.add_done_callback(lambda done: self._finished(key, done))
        return await asyncio.shield(task)

    def forget(self, key: K) -> None:
        self._calls.pop(key, None)

    def forget_all(self) -> None:
        self._calls.clear()

    def __len__(self) -> int:
        return len(self._calls)

    def _finished(self, key: K, task: asyncio.Task[V]) -> None:
        if self._calls.get(key) is task:
            del self._calls[key]
        if not task.cancelled():
            task.exception()  # retrieved: callers that went away must not leave it "unretrieved"
