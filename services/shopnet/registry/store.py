"""The registry's catalog: instances with TTL health, per-service change indexes, watches.

Semantics follow Consul's TTL checks and blocking queries:

- an instance is *passing* while its last heartbeat is younger than its TTL,
  *critical* after that (never returned by lookups), and removed once it has
  been critical for `deregister_after` seconds;
- every service has an index that grows whenever the set of passing instances
  (or their data) changes; a watcher asks "anything after index N?" and waits
  until there is, or its wait runs out.

Expiry is exact at query time (lookups compare against the clock); the periodic
`sweep()` only turns expiries into index bumps so watchers wake up.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Registration:
    """What an instance says about itself when it registers."""

    id: str
    service: str
    address: str
    port: int
    tags: tuple[str, ...] = ()
    meta: tuple[tuple[str, str], ...] = ()
    ttl: float = 10.0
    deregister_after: float = 60.0


@dataclass(slots=True)
class _Entry:
    registration: Registration
    last_seen: float
    passing: bool = True


@dataclass(slots=True)
class _ServiceState:
    index: int = 1
    changed: asyncio.Event = field(default_factory=asyncio.Event)


class Store:
    """In-memory catalog; all methods are synchronous except `wait`."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._entries: dict[str, _Entry] = {}
        self._services: dict[str, _ServiceState] = {}
        self._closing = False

    # -- writes ---------------------------------------------------------------

    def register(self, registration: Registration) -> bool:
        """Add or refresh an instance; True when the catalog changed (idempotent otherwise)."""
        now = self._clock()
        entry = self._entries.get(registration.id)
        if entry is not None and entry.registration == registration:
            self._renew(entry, now)
            return False
        if entry is not None and entry.registration.service != registration.service:
            self._bump(entry.registration.service)
        self._entries[registration.id] = _Entry(registration, now)
        self._bump(registration.service)
        return True

    def heartbeat(self, instance_id: str) -> bool:
        """Renew the TTL; False when the instance is unknown (it must register again)."""
        entry = self._entries.get(instance_id)
        if entry is None:
            return False
        self._renew(entry, self._clock())
        return True

    def deregister(self, instance_id: str) -> bool:
        entry = self._entries.pop(instance_id, None)
        if entry is None:
            return False
        self._bump(entry.registration.service)
        return True

    def sweep(self) -> list[tuple[str, str]]:
        """Apply TTL expiry and deregister-after removal; returns (instance id, event) pairs."""
        now = self._clock()
        events = []
        for instance_id, entry in list(self._entries.items()):
            reg = entry.registration
            age = now - entry.last_seen
            if age > reg.ttl + reg.deregister_after:
                del self._entries[instance_id]
                events.append((instance_id, "removed"))
                if entry.passing:
                    self._bump(reg.service)
            elif entry.passing and age > reg.ttl:
                entry.passing = False
                events.append((instance_id, "critical"))
                self._bump(reg.service)
        return events

    # -- reads ----------------------------------------------------------------

    def index(self, service: str) -> int:
        state = self._services.get(service)
        return state.index if state else 1

    def passing(self, service: str) -> list[Registration]:
        """Healthy instances of `service`, ordered by id for stable output."""
        now = self._clock()
        return sorted(
            (
                e.registration
                for e in self._entries.values()
                if e.registration.service == service and now - e.last_seen <= e.registration.ttl
            ),
            key=lambda r: r.id,
        )

    def instances(self) -> list[dict[str, Any]]:
        """Every known instance with its status, for operators."""
        now = self._clock()
        return [
            {
                **registration_dict(e.registration),
                "status": "passing" if now - e.last_seen <= e.registration.ttl else "critical",
                "seconds_since_heartbeat": round(now - e.last_seen, 3),
            }
            for e in sorted(self._entries.values(), key=lambda e: e.registration.id)
        ]

    def catalog(self) -> dict[str, dict[str, Any]]:
        """Service name → counts and tags."""
        now = self._clock()
        services: dict[str, dict[str, Any]] = {}
        for entry in self._entries.values():
            reg = entry.registration
            summary = services.setdefault(reg.service, {"passing": 0, "critical": 0, "tags": set()})
            summary["passing" if now - entry.last_seen <= reg.ttl else "critical"] += 1
            summary["tags"].update(reg.tags)
        return {
            name: {**summary, "tags": sorted(summary["tags"]), "index": self.index(name)}
            for name, summary in sorted(services.items())
        }

    async def wait(self, service: str, index: int, timeout: float) -> int:
        """Block until the service's index passes `index` or `timeout` runs out."""
        state = self._state(service)
        if state.index > index or self._closing:
            return state.index
        try:
            async with asyncio.timeout(timeout):
                while state.index <= index and not self._closing:
                    await state.changed.wait()
        except TimeoutError:
            pass
        return state.index

    def release_watchers(self) -> None:
        """Answer every pending long-poll now (shutdown must not wait out their waits)."""
        self._closing = True
        for state in self._services.values():
            state.changed.set()

    # -- internals ------------------------------------------------------------

    def _renew(self, entry: _Entry, now: float) -> None:
        entry.last_seen = now
        if not entry.passing:
            entry.passing = True
            self._bump(entry.registration.service)

    def _state(self, service: str) -> _ServiceState:
        state = self._services.get(service)
        if state is None:
            state = self._services[service] = _ServiceState()
        return state

    def _bump(self, service: str) -> None:
        state = self._state(service)
        state.index += 1
        # Wake every current waiter, then arm a fresh event for the next change.
        state.changed.set()
        state.changed = asyncio.Event()


def registration_dict(reg: Registration) -> dict[str, Any]:
    return {
        "id": reg.id,
        "service": reg.service,
        "address": reg.address,
        "port": reg.port,
        "tags": list(reg.tags),
        "meta": dict(reg.meta),
        "ttl_seconds": reg.ttl,
        "deregister_after_seconds": reg.deregister_after,
    }
