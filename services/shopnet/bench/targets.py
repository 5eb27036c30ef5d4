"""What to measure in each mode: the paths a request can take into the stack.

Every mode has a *main* path — through the gateway from the host's port 8080,
the way users call it — and mode-specific others that split the cost apart; each
driver says which (Driver.entry_points):

- local:  gateway on 127.0.0.1:8080 (no NAT: the baseline)
- netns:  127.0.0.1:8080 (nftables DNAT), 172.20.0.10:3000 (straight to the namespace)
- docker: <host address>:8080 (Docker's iptables DNAT), 127.0.0.1:8080 (docker-proxy,
          Docker's userland proxy, which answers for loopback)
- swarm:  as docker (the gateway's port is published in host mode on node 1); its
          instances sit on overlays the host cannot reach, so no direct paths
- all:    one product instance directly (the ceiling for the gateway path), and the
          nginx peer in the gateway's place where the driver can run one (Driver.peer_port);
          there too the calibration path, a trivial aiohttp handler beside product-1
          (shopnet.bench.calibration), the cache-hit workload only
"""

from __future__ import annotations

from dataclasses import dataclass

from shopnet.bench.wrk import WORKLOADS
from shopnet.runtime.base import Driver, EntryPoint, InstanceStatus
from shopnet.runtime.capabilities import EntryPoints

PRODUCT_WORKLOADS = ("product_hit", "product_miss", "product_list")


@dataclass(frozen=True, slots=True)
class Target:
    name: str
    """Path name in results: gateway, gateway-direct, docker-proxy, product-direct, nginx."""
    url: str
    prefix: str = "/api"
    main: bool = False
    """The path every mode shares (the comparison's headline)."""
    only: tuple[str, ...] = ()
    """The workloads it can serve, when not all those its prefix allows."""

    @property
    def workloads(self) -> tuple[str, ...]:
        if self.only:
            return self.only
        return PRODUCT_WORKLOADS if self.prefix == "" else WORKLOADS


def find(rows: list[InstanceStatus], instance: str) -> InstanceStatus | None:
    for row in rows:
        if row.instance == instance:
            return row
    return None


def plan_targets(driver: Driver, rows: list[InstanceStatus]) -> list[Target]:
    points = (
        driver.entry_points(rows)
        if isinstance(driver, EntryPoints)
        else [EntryPoint("gateway", driver.gateway_url, main=True)]
    )
    targets = [Target(e.name, e.url, main=e.main) for e in points]
    product = find(rows, "product-1")
    if product is not None and driver.host_reaches_instances:
        targets.append(Target("product-direct", f"http://{product.address}", prefix=""))
    return targets
