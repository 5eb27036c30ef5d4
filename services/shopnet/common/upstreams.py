"""Client-side load balancing: round-robin over discovered instances, with passive ejection.

The instance list comes from a registry watch (`update`); picking never calls the
registry. Outlier detection follows Envoy's consecutive-failures model: an
instance that fails `eject_after` times in a row is ejected for
base × (number of ejections) seconds, capped; it returns by itself when the time
is up. The last available instance is never ejected: a degraded answer beats none.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection
from dataclasses import dataclass

from shopnet.common.registry_client import ServiceInstance


@dataclass(slots=True, eq=False)
class Endpoint:
    """One upstream instance and its outlier-detection state."""

    instance: ServiceInstance
    base_url: str
    consecutive_failures: int = 0
    ejections: int = 0
    ejected_until: float = 0.0

    @property
    def id(self) -> str:
        return self.instance.id


UNAVAILABLE_STATUSES = frozenset({502, 503, 504})
"""Answers that speak for the instance (it, or what it needs, is unavailable): a failure
that counts towards ejection and may be retried elsewhere. Any other answer, a 500
included, is the request's as likely as the instance's: a client able to provoke one
must not be able to eject healthy instances."""


class UpstreamPool:
    """The instances of one upstream service, as the balancer sees them."""

    def __init__(
        self,
        service: str,
        *,
        eject_after: int = 5,
        base_ejection_seconds: float = 10.0,
        max_ejection_seconds: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
        on_eject: Callable[[Endpoint], None] | None = None,
        on_available: Callable[[int], None] | None = None,
    ) -> None:
        self.service = service
        self._eject_after = eject_after
        self._base = base_ejection_seconds
        self._max = max_ejection_seconds
        self._clock = clock
        self._on_eject = on_eject
        self._on_available = on_available  # told the available count after every change
        self._endpoints: list[Endpoint] = []
        self._available: list[Endpoint] = []
        self._next_return = float("inf")  # earliest ejected_until among ejected endpoints
        self._cursor = -1

    # -- membership -----------------------------------------------------------

    def update(self, instances: list[ServiceInstance]) -> None:
        """Replace the membership, keeping the state of instances that stay."""
        known = {e.id: e for e in self._endpoints}
        endpoints = []
        for instance in instances:
            endpoint = known.get(instance.id)
            if endpoint is None or endpoint.instance != instance:
                endpoint = Endpoint(instance, instance.base_url)
            endpoints.append(endpoint)
        self._endpoints = endpoints
        self._refresh(self._clock())

    @property
    def endpoints(self) -> list[Endpoint]:
        return list(self._endpoints)

    def available(self) -> list[Endpoint]:
        now = self._clock()
        if now >= self._next_return:
            self._refresh(now)
        return list(self._available)

    # -- picking --------------------------------------------------------------

    def pick(self, exclude: Collection[Endpoint] = ()) -> Endpoint | None:
        """The next available endpoint in round-robin order, skipping `exclude`.

        A pick with `exclude` (a retry) does not move the rotation: otherwise, with one
        bad instance among two, it would be every request's first pick.
        """
        now = self._clock()
        if now >= self._next_return:
            self._refresh(now)
        available = self._available
        count = len(available)
        if not count:
            return None
        if not exclude:
            self._cursor = (self._cursor + 1) % count
            return available[self._cursor]
        for step in range(1, count + 1):
            endpoint = available[(self._cursor + step) % count]
            if endpoint not in exclude:
                return endpoint
        return None

    # -- outcomes -------------------------------------------------------------

    def succeeded(self, endpoint: Endpoint) -> None:
        endpoint.consecutive_failures = 0

    def failed(self, endpoint: Endpoint) -> None:
        endpoint.consecutive_failures += 1
        if endpoint.consecutive_failures < self._eject_after:
            return
        now = self._clock()
        if endpoint.ejected_until > now or endpoint not in self._available:
            return
        if len(self._available) <= 1:
            return  # never eject the last one
        endpoint.ejections += 1
        endpoint.consecutive_failures = 0
        endpoint.ejected_until = now + min(self._base * endpoint.ejections, self._max)
        self._refresh(now)
        if self._on_eject is not None:
            self._on_eject(endpoint)

    def _refresh(self, now: float) -> None:
        self._available = [e for e in self._endpoints if e.ejected_until <= now]
        ejected = [e.ejected_until for e in self._endpoints if e.ejected_until > now]
        self._next_return = min(ejected, default=float("inf"))
        if not self._available and self._endpoints:
            # Membership changed under ejections until none was left: use them all.
            self._available = list(self._endpoints)
        if self._on_available is not None:
            self._on_available(len(self._available))
