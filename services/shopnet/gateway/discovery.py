"""Upstream instances from the registry: one long-poll watch and one balancing pool per service.

Requests never call the registry: a watch keeps each pool's membership current
(`ServiceWatch`), and the pool picks instances locally (`UpstreamPool`). At start
the app waits (bounded) for the first answer of every watch before it listens.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Iterable

import aiohttp
from aiohttp import web

from shopnet.common.health import CheckResult, CheckStatus, ReadinessCheck
from shopnet.common.http import json_response
from shopnet.common.registry_client import RegistryClient, ServiceInstance, ServiceWatch
from shopnet.common.upstreams import Endpoint, UpstreamPool
from shopnet.gateway.config import GatewayConfig
from shopnet.gateway.metrics import GatewayMetrics

log = logging.getLogger("shopnet.gateway")


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
                on_eject=lambda endpoint, service=service: self._ejected(service, endpoint),
                on_available=metrics.healthy[service].set,
            )
            for service in services
        }
        self.watches: dict[str, ServiceWatch] = {}

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
            for service in self.pools:
                watch = ServiceWatch(
                    client,
                    service,
                    lambda instances, service=service: self._changed(service, instances),
                    wait=self._cfg.watch_wait_seconds,
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
            log.warning("registry not answering; serving before discovery of %s", pending)

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
                return CheckResult(CheckStatus.DOWN, "not synced from the registry yet")
            available = len(self.pools[service].available())
            if not available:
                return CheckResult(CheckStatus.DEGRADED, "no healthy instance")
            return CheckResult(CheckStatus.OK, f"{available} instance(s)")

        return check
