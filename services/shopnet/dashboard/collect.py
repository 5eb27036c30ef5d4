"""One poller per dashboard: every second, the driver's status, every instance's
metrics and (netns) the firewall's counters, turned into one JSON snapshot.

The driver is synchronous (it reads /proc, probes /ready, asks Docker), so its
status runs in a thread; a tick waits for it at most `interval`, which keeps a
killed instance's turn to red within two ticks.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp

from shopnet.dashboard import layout, metrics, nftcounters, traffic
from shopnet.errors import ShopnetError
from shopnet.runtime.base import Driver, InstanceStatus
from shopnet.runtime.capabilities import NftablesFirewall, TierSegments
from shopnet.topology.model import Topology

RED = frozenset({"down", "unavailable"})
RECENT = 10.0
"""Seconds a denied attempt counts as new (the page draws marks younger than 3 × this)."""
CRASH_SHOWN_SECONDS = 1.5
"""How long an instance restarted between two status reads shows red."""


class Collector:
    """Keeps what one tick needs from the last: status rows, scrapes, counters."""

    def __init__(self, driver: Driver, topology: Topology, *, interval: float = 1.0) -> None:
        self.driver = driver
        self.topology = topology
        self.interval = interval
        self.seq = 0
        self.rows: list[InstanceStatus] = []
        self.error: str | None = None
        self.picture_key: tuple[str, ...] = ()
        self._scrapes: dict[str, metrics.Scrape | None] = {}
        self._scraped_at = 0.0
        self._connections: tuple[float, dict[str, int]] | None = None
        self._denied_seen: dict[tuple[str, str, int], tuple[int, float]] = {}
        self._restarts: dict[str, int] = {}
        self._crashed_until: dict[str, float] = {}
        """Instances restarted since the last status: red a moment, though already back."""
        self._status: asyncio.Future[list[InstanceStatus]] | None = None

    # -- the picture -------------------------------------------------------------

    def placed(self) -> list[layout.Placed]:
        if self.rows:
            return [layout.Placed(r.instance, r.service, r.address) for r in self.rows]
        state = self.driver.state()
        scale = state.scale if state is not None else {}
        return [
            layout.Placed(i.name, i.service.name, f"{i.address}:{i.port}")
            for i in self.topology.plan(scale)
        ]

    def titles(self) -> dict[str, str]:
        """What each tier is in this mode: a bridge, a Docker network, or nothing (local)."""
        if isinstance(self.driver, TierSegments):
            return self.driver.tier_segments()
        return {t.name: f"{t.name} · {t.subnet}" for t in self.topology.tiers}

    # -- one tick ----------------------------------------------------------------

    async def tick(self, session: aiohttp.ClientSession) -> dict[str, Any]:
        started = time.monotonic()
        if self._status is None or self._status.done():
            self._status = asyncio.ensure_future(asyncio.to_thread(self.driver.status))
        scrape_timeout = self.interval * 0.8
        addresses = {r.instance: r.address for r in self.rows if r.address and r.address != "-"}
        apps = [
            r.instance for r in self.rows if self._is_app(r.service) and r.instance in addresses
        ]
        admin_ports = {r.instance: self.topology.service(r.service).admin_port for r in self.rows}
        scrapes = await asyncio.gather(
            *(
                metrics.scrape(
                    session, addresses[name], timeout=scrape_timeout, admin_port=admin_ports[name]
                )
                for name in apps
            )
        )
        firewall = None
        if isinstance(self.driver, NftablesFirewall):
            table = self.driver.firewall_table()
            firewall = await asyncio.to_thread(nftcounters.read, table)
        await asyncio.wait(
            {self._status}, timeout=max(self.interval - (time.monotonic() - started), 0.05)
        )
        if self._status.done():
            try:
                self.rows = self._status.result()
                self.error = None
            except (ShopnetError, OSError) as exc:  # the stack went away, or Docker did
                self.error = str(exc)
                self.rows = [_as_down(r) for r in self.rows]
        now = time.monotonic()
        current = {name: result.samples for name, result in zip(apps, scrapes, strict=True)}
        # A refused connection is news before the next status is: show it at once.
        refused = {name for name, result in zip(apps, scrapes, strict=True) if result.refused}
        # A supervisor may bring a crashed instance back before any tick saw it down: a
        # grown restart count says it crashed, so it shows red for a moment all the same.
        for r in self.rows:
            before = self._restarts.get(r.instance)
            if before is not None and r.restarts > before:
                self._crashed_until[r.instance] = now + CRASH_SHOWN_SECONDS
            self._restarts[r.instance] = r.restarts
        refused |= {name for name, until in self._crashed_until.items() if now < until}
        flows = self._traffic(current, now)
        self._scrapes, self._scraped_at = current, now
        self.seq += 1
        key = tuple(sorted(r.instance for r in self.rows))
        if key != self.picture_key and self.rows:
            self.picture_key = key
        return {
            "seq": self.seq,
            "time": time.time(),
            "mode": self.driver.mode,
            "picture": "|".join(self.picture_key),
            "error": self.error,
            "instances": {r.instance: _instance(r, r.instance in refused) for r in self.rows},
            "flows": flows,
            "firewall": self._firewall(firewall, now),
        }

    def _is_app(self, service: str) -> bool:
        try:
            return self.topology.service(service).kind.value == "app"
        except KeyError:
            return False

    def _traffic(self, current: dict[str, metrics.Scrape | None], now: float) -> dict[str, Any]:
        by_service: dict[str, list[str]] = {}
        for r in self.rows:
            by_service.setdefault(r.service, []).append(r.instance)
        interval = traffic.Interval(
            before={s: [self._scrapes.get(n) for n in names] for s, names in by_service.items()},
            after={s: [current.get(n) for n in names] for s, names in by_service.items()},
            seconds=now - self._scraped_at if self._scrapes else 0.0,
        )
        counts = {s: len(n) for s, n in by_service.items()}
        return {
            edge: {"rate": round(t.rate, 2), "latency_ms": _round(t.latency_ms, 3)}
            for edge, t in traffic.flows(self.topology, interval, counts).items()
        }

    def _firewall(self, counters: nftcounters.FirewallCounters | None, now: float) -> Any:
        if counters is None:
            return None
        previous = self._connections
        self._connections = (now, counters.connections)
        rates = {}
        if previous is not None and now > previous[0]:
            for edge, count in counters.connections.items():
                grown = count - previous[1].get(edge, 0)
                rates[edge] = round(max(grown, 0) / (now - previous[0]), 2)
        names = {r.address.rsplit(":", 1)[0]: r.instance for r in self.rows}
        denied = []
        for d in counters.denied:
            key = (d.source, d.target, d.port)
            seen = self._denied_seen.get(key)
            if seen is None or seen[0] != d.packets:
                seen = (d.packets, now)
                self._denied_seen[key] = seen
            denied.append(
                {
                    "source": names.get(d.source, d.source),
                    "target": names.get(d.target, d.target),
                    "port": d.port,
                    "packets": d.packets,
                    "recent": now - seen[1] < RECENT,
                    "age": round(now - seen[1], 1),
                }
            )
        return {
            "connections": counters.connections,
            "connection_rates": rates,
            "denied": sorted(denied, key=lambda d: (-d["packets"], d["source"], d["target"])),
        }


def _instance(r: InstanceStatus, refused: bool) -> dict[str, Any]:
    health = "down" if refused else r.health
    return {
        "service": r.service,
        "address": r.address,
        "health": health,
        "red": health in RED,
        "pid": r.pid,
        "where": r.where,
        "cpu": _round(r.cpu_percent),
        "memory_mb": _round(r.memory_mb),
        # Restart counts come from a supervisor, when the driver has one.
        "restarts": getattr(r, "restarts", None),
    }


def _as_down(r: InstanceStatus) -> InstanceStatus:
    return InstanceStatus(r.service, r.instance, r.address, None, "unknown", r.where)


def _round(value: float | None, digits: int = 1) -> float | None:
    return None if value is None else round(value, digits)
