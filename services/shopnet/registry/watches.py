"""A bound on the long-polls one client holds open at once.

Each held watch is a task and a connection; without a bound, one client could hold
thousands. The catalog's own bound (max_services) is not spent by watches on names
nobody registers (shopnet.registry.store.Store.wait), so this one only keeps a client's
cost its own.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from shopnet.common.http import ApiError

MAX_WATCHES_PER_CLIENT = 64
"""Long-polls held at once per client address: a gateway worker holds one per upstream
service it routes to, an order instance one."""


class TooManyWatches(ApiError):
    status, code = 429, "too_many_watches"


class WatchCounts:
    """How many long-polls each client address holds now."""

    def __init__(self, limit: int = MAX_WATCHES_PER_CLIENT) -> None:
        self._limit = limit
        self._held: dict[str, int] = {}

    @contextmanager
    def held(self, client: str) -> Iterator[None]:
        """One more watch for `client` while the block runs; 429 past the limit."""
        count = self._held.get(client, 0)
        if count >= self._limit:
            raise TooManyWatches(
                f"{client} holds {count} watches, the limit; wait for one to return",
                headers={"Retry-After": "1"},
            )
        self._held[client] = count + 1
        try:
            yield
        finally:
            left = self._held[client] - 1
            if left:
                self._held[client] = left
            else:
                del self._held[client]
