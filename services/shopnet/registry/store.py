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

Indexes come from one counter for the whole catalog (as Consul's come from its raft
log), so a service's state can be forgotten while nobody watches it and made again
later without its index ever going backwards for a watcher.

Ownership: every entry remembers an opaque `owner` (the registry passes a digest of
the per-registration secret); only that owner may renew, replace or remove it while
it is passing. A critical entry may be taken over: its owner stopped heartbeating.

Bounds: at most `max_instances` entries and `max_services` service names with state
(registered, or watched once registered); past them `CatalogFull`, so no caller can
grow the catalog without limit. A watch on a name nobody registers holds no slot: it
waits for names to appear, so made-up names cannot fill `max_services` and turn a
real service's registration away.
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


class NotOwner(Exception):
    """The instance id is held by another registration."""


class CatalogFull(Exception):
    """A bound on instances or service names would be exceeded."""


@dataclass(slots=True)
class _Entry:
    registration: Registration
    last_seen: float
    owner: bytes = b""
    passing: bool = True


@dataclass(slots=True)
class _ServiceState:
    index: int
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    waiters: int = 0


class Store:
    """In-memory catalog; all methods are synchronous except `wait`."""

    def __init__(
        self,
        clock: Callable[[], float] = time.monotonic,
        *,
        max_instances: int = 1024,
        max_services: int = 256,
    ) -> None:
        self._clock = clock
        self._entries: dict[str, _Entry] = {}
        self._services: dict[str, _ServiceState] = {}
        self._last_index = 1
        self._max_instances = max_instances
        self._max_services = max_services
        self._closing = False
        self._appeared = asyncio.Event()  # set when a name gets state (see `wait`)

    def service_of(self, instance_id: str) -> str | None:
        """The service an instance id is registered under (passing or not), if any."""
        entry = self._entries.get(instance_id)
        return None if entry is None else entry.registration.service

    # -- writes ---------------------------------------------------------------

    def register(self, registration: Registration, *, owner: bytes = b"") -> bool:
        """Add or refresh an instance; True when the catalog changed (idempotent otherwise).

        NotOwner when a passing entry with this id belongs to someone else; CatalogFull
        when a new id or service name would pass the bounds.
        """
        now = self._clock()
        entry = self._entries.get(registration.id)
        if entry is not None and entry.owner != owner and self._is_passing(entry, now):
            raise NotOwner(registration.id)
        if entry is None and len(self._entries) >= self._max_instances:
            raise CatalogFull(f"the registry holds {self._max_instances} instances, its limit")
        self._state(registration.service)  # CatalogFull before anything changes
        if entry is not None and entry.registration == registration and entry.owner == owner:
            self._renew(entry, now)
            return False
        if entry is not None and entry.registration.service != registration.service:
            self._bump(entry.registration.service)
        self._entries[registration.id] = _Entry(registration, now, owner)
        self._bump(registration.service)
        return True

    def heartbeat(self, instance_id: str, *, owner: bytes = b"") -> bool:
        """Renew the TTL; False when the instance is unknown (it must register again)."""
        entry = self._entries.get(instance_id)
        if entry is None:
            return False
        if entry.owner != owner:
            raise NotOwner(instance_id)
        self._renew(entry, self._clock())
        return True

    def deregister(self, instance_id: str, *, owner: bytes = b"") -> bool:
        entry = self._entries.get(instance_id)
        if entry is None:
            return False
        if entry.owner != owner:
            raise NotOwner(instance_id)
        del self._entries[instance_id]
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
        self._forget_idle_services()
        return events

    def _forget_idle_services(self) -> None:
        """Drop the state of names nobody registers or watches (watched garbage names
        must not hold their slot forever)."""
        registered = {e.registration.service for e in self._entries.values()}
        for name in [
            name
            for name, state in self._services.items()
            if not state.waiters and name not in registered
        ]:
            del self._services[name]

    # -- reads ----------------------------------------------------------------

    def index(self, service: str) -> int:
        state = self._services.get(service)
        return state.index if state else self._last_index

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
        state = self._services.get(service)
        if state is None:
            if self._last_index > index or self._closing:
                return self._last_index
            loop = asyncio.get_running_loop()
            deadline = loop.time() + timeout
            if not await self._appears(service, timeout):
                return self.index(service)
            state = self._services[service]
            timeout = max(deadline - loop.time(), 0.0)
        if state.index > index or self._closing:
            return state.index
        state.waiters += 1
        try:
            async with asyncio.timeout(timeout):
                while state.index <= index and not self._closing:
                    await state.changed.wait()
        except TimeoutError:
            pass
        finally:
            state.waiters -= 1
        return state.index

    async def _appears(self, service: str, timeout: float) -> bool:
        """Wait, holding no slot, until `service` has state; False on timeout or close."""
        try:
            async with asyncio.timeout(timeout):
                while service not in self._services and not self._closing:
                    await self._appeared.wait()
        except TimeoutError:
            return False
        return service in self._services and not self._closing

    def release_watchers(self) -> None:
        """Answer every pending long-poll now (shutdown must not wait out their waits)."""
        self._closing = True
        self._appeared.set()
        for state in self._services.values():
            state.changed.set()

    # -- internals ------------------------------------------------------------

    @staticmethod
    def _is_passing(entry: _Entry, now: float) -> bool:
        return now - entry.last_seen <= entry.registration.ttl

    def _renew(self, entry: _Entry, now: float) -> None:
        entry.last_seen = now
        if not entry.passing:
            entry.passing = True
            self._bump(entry.registration.service)

    def _state(self, service: str) -> _ServiceState:
        state = self._services.get(service)
        if state is None:
            if len(self._services) >= self._max_services:
                raise CatalogFull(f"the registry tracks {self._max_services} names, its limit")
            state = self._services[service] = _ServiceState(self._last_index)
            # Wake the watches of names that had no state; each checks for its own.
            self._appeared.set()
            self._appeared = asyncio.Event()
        return state

    def _bump(self, service: str) -> None:
        state = self._state(service)
        self._last_index += 1
        state.index = self._last_index
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
