"""Token buckets per caller: a customer's token, or an anonymous client's address.

Each key has a bucket of `burst` tokens refilled at `rate` per second; a request takes
one, and finds none: 429 with Retry-After (the seconds until one is back). Admin tokens
are not limited. Buckets live in the worker's memory (with SHOPNET_GATEWAY_WORKERS=N a
caller may get up to N times the rate, as the kernel spreads its connections), and at
most `max_keys` at once: the least recently used go first, and a forgotten bucket is a
full one, so a flood of new addresses costs memory once, never an unbounded table.

The address is the TCP peer the gateway sees, never X-Forwarded-For (a client writes
that). docs/security.md says what it is in each mode: behind the netns DNAT or
docker-proxy, every host client shares one.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable

from shopnet.common.http import ApiError


class TooManyRequests(ApiError):
    status, code = 429, "rate_limited"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message, headers={"Retry-After": str(retry_after)})


class RateLimiter:
    """Buckets by key (see the module docstring); `rate` ≤ 0 turns limiting off."""

    def __init__(
        self,
        rate: float,
        burst: int,
        *,
        max_keys: int = 65536,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rate, self.burst, self.max_keys = rate, float(burst), max_keys
        self._clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # key → tokens, at

    @property
    def enabled(self) -> bool:
        return self.rate > 0

    def take(self, key: str) -> None:
        """One request of `key`; TooManyRequests when its bucket is empty."""
        if self.rate <= 0:
            return
        now = self._clock()
        buckets = self._buckets
        tokens, at = buckets.pop(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - at) * self.rate)
        if tokens < 1.0:
            buckets[key] = (tokens, now)
            wait = math.ceil((1.0 - tokens) / self.rate)
            raise TooManyRequests(
                f"rate limit of {self.rate:g} requests/s (burst {self.burst:g}) reached",
                retry_after=max(1, wait),
            )
        buckets[key] = (tokens - 1.0, now)
        if len(buckets) > self.max_keys:
            buckets.popitem(last=False)
