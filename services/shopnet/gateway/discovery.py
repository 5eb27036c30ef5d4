"""Upstream instances: one source and one balancing pool per service.

Requests never call the registry: a watch keeps each pool's membership current,
and the pool picks instances locally (`UpstreamPool`: the same round-robin,
retries and ejection whatever the source). Two sources (SHOPNET_GATEWAY_DISCOVERY):

- `registry`: a long-poll watch on the registry (`ServiceWatch`), every mode;
- `dns`: the addresses a name resolves to (`DnsWatch`), resolved again every
  SHOPNET_GATEWAY_DNS_INTERVAL_SECONDS. Docker's embedded DNS answers a compose
  service's name with one A record per running container and drops a container's
  record when it stops, so this is the seed's "balancing by the service name
  alias", without a registry. Between a container's death and the next
  resolution, connect failures are retried on another instance and eject it.

At start the app waits (bounded) for the first answer of every watch before it listens.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable

import aiohttp
from aiohttp import web

from shopnet.common.background import BackgroundLoop, pause
from shopnet.common.health import CheckResult, CheckStatus, ReadinessCheck
from shopnet.common.http import json_response
from shopnet.common.registry_client import RegistryClient, ServiceInstance, ServiceWatch
from shopnet.common.upstreams import Endpoint, UpstreamPool
from shopnet.errors import ConfigError
from shopnet.gateway.config import GatewayConfig
from shopnet.gateway.metrics import GatewayMetrics

log = logging.getLogger("shopnet.gateway")

Resolver = Callable[[str, int], Awaitable[list[str]]]
"""(name, port) → the IPv4 addresses it resolves to; socket.gaierror when it does not."""


async def resolve_ipv4(name: str, port: int) -> list[str]:
    """The IPv4 addresses of `name`, through the system resolver (glibc: no caching)."""
    loop = asyncio.get_running_loop()
    found = await loop.getaddrinfo(name, port, family=socket.AF_INET, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in found]


class DnsWatch(BackgroundLoop):
    """Follow the addresses `name` resolves to; call `on_change` on each change.

    Same interface as ServiceWatch (start, stop, synced). Instances are sorted by
    address, so Docker's shuffled answers do not churn the pool; a name that does
    not exist (no container left) empties it, while a resolver that does not
    answer keeps the last list, as a registry outage does.
    """

    def __init__(
        self,
        service: str,
        name: str,
        port: int,
        on_change: Callable[[list[ServiceInstance]], None],
        *,
        interval: float,
        resolve: Resolver = resolve_ipv4,
    ) -> None:
        self.service = service
        self._name = name
        self._port = port
        self._on_change = on_change
        self._interval = interval
        self._resolve = resolve
        self.synced = asyncio.Event()

    @property
    def task_name(self) -> str:
        return f"dns:{self.service}"

    async def _run(self) -> None:
        last: list[ServiceInstance] | None = None
        while True:
            try:
                addresses = await self._resolve(self._name, self._port)
            except socket.gaierror as exc:
                if exc.errno not in (socket.EAI_NONAME, getattr(socket, "EAI_NODATA", None)):
                    log.warning("resolving %s: %s", self._name, exc)
                    await pause(self._interval)
                    continue
                addresses = []
            instances = [
                ServiceInstance(f"{self.service}@{address}:{self._port}", address, self._port)
                for address in sorted(set(addresses), key=socket.inet_aton)
            ]
            if instances != last:
                last = instances
                self._on_change(instances)
            self.synced.set()
            await pause(self._interval)


class Discovery:
    """The balancing pools of the routed services, kept in step with the registry."""

    def __init__(
        self, cfg: GatewayConfig, services: Iterable[str], metrics: GatewayMetrics
    ) -> None:
        self._cfg = cfg
        self._metrics = metrics
        self.pools = {
            service: UpstreamPool(
                service,
                eject_after=cfg.eject_after,
                base_ejection_seconds=cfg.base_ejection_seconds,
                max_ejection_seconds=cfg.max_ejection_seconds,
                on_eject=functools.partial(self._ejected, service),
                on_available=metrics.healthy[service].set,
            )
            for service in services
        }
        self.watches: dict[str, ServiceWatch | DnsWatch] = {}
        self.resolve: Resolver = resolve_ipv4
        """The dns source's resolver (tests hand in their own table)."""
        self.source = "DNS" if cfg.discovery == "dns" else "the registry"
        if cfg.discovery == "dns":
            missing = [s for s in self.pools if s not in cfg.dns_targets()]
            if missing:
                raise ConfigError(
                    f"dns discovery needs SHOPNET_GATEWAY_DNS_NAMES for {', '.join(missing)}"
                )

    def _ejected(self, service: str, endpoint: Endpoint) -> None:
        self._metrics.ejections[service].inc()
        log.warning(
            "ejected %s after %d consecutive failures (ejection #%d)",
            endpoint.id,
            self._cfg.eject_after,
            endpoint.ejections,
            extra={"upstream": service, "instance_id": endpoint.id},
        )

    def _changed(self, service: str, instances: list[ServiceInstance]) -> None:
        self.pools[service].update(instances)
        log.info(
            "%s instances: %s",
            service,
            ", ".join(i.id for i in instances) or "none",
            extra={"upstream": service, "instances": len(instances)},
        )

    async def watching(self, app: web.Application) -> AsyncIterator[None]:
        """cleanup_ctx: watch every routed service while the app runs."""
        async with aiohttp.ClientSession() as session:
            client = RegistryClient(session, self._cfg.registry_url)
            targets = self._cfg.dns_targets()
            for service in self.pools:

                def changed(instances: list[ServiceInstance], service: str = service) -> None:
                    self._changed(service, instances)

                watch: ServiceWatch | DnsWatch
                if self._cfg.discovery == "dns":
                    name, port = targets[service]
                    watch = DnsWatch(
                        service,
                        name,
                        port,
                        changed,
                        interval=self._cfg.dns_interval_seconds,
                        resolve=self.resolve,
                    )
                else:
                    watch = ServiceWatch(
                        client, service, changed, wait=self._cfg.watch_wait_seconds
                    )
                self.watches[service] = watch
                watch.start()
            await self._first_sync()
            try:
                yield
            finally:
                for watch in self.watches.values():
                    await watch.stop()
                self.watches.clear()

    async def _first_sync(self) -> None:
        """Wait (bounded) for every watch's first answer: the app listens only after this,
        so its first requests are not refused for want of instances it has not heard of."""
        try:
            async with asyncio.timeout(self._cfg.startup_sync_seconds):
                for watch in self.watches.values():
                    await watch.synced.wait()
        except TimeoutError:
            pending = [s for s, w in self.watches.items() if not w.synced.is_set()]
            log.warning("%s not answering; serving before discovery of %s", self.source, pending)

    async def view(self, request: web.Request) -> web.Response:
        """Admin: every routed service's instances as the balancer sees them."""
        now = time.monotonic()
        return json_response(
            {
                service: {
                    "synced": service in self.watches and self.watches[service].synced.is_set(),
                    "instances": [
                        {
                            "id": e.id,
                            "address": e.instance.address,
                            "port": e.instance.port,
                            "consecutive_failures": e.consecutive_failures,
                            "ejections": e.ejections,
                            "ejected_for_seconds": round(max(0.0, e.ejected_until - now), 3),
                        }
                        for e in pool.endpoints
                    ],
                }
                for service, pool in self.pools.items()
            }
        )

    def readiness(self, service: str) -> ReadinessCheck:
        """Down until the service's list came from the registry; degraded while it is empty."""

        async def check(app: web.Application) -> CheckResult:
            watch = self.watches.get(service)
            if watch is None or not watch.synced.is_set():
                return CheckResult(CheckStatus.DOWN, f"not synced from {self.source} yet")
            available = len(self.pools[service].available())
            if not available:
                return CheckResult(CheckStatus.DEGRADED, "no healthy instance")
            return CheckResult(CheckStatus.OK, f"{available} instance(s)")

        return check
