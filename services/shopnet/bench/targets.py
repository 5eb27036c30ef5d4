"""What to measure in each mode: the paths a request can take into the stack.

Every mode has a *main* path — through the gateway from the host's port 8080,
the way users call it — and mode-specific others that split the cost apart:

- local:  gateway on 127.0.0.1:8080 (no NAT: the baseline)
- netns:  127.0.0.1:8080 (nftables DNAT), 172.20.0.10:3000 (straight to the namespace)
- docker: <host address>:8080 (Docker's iptables DNAT), 127.0.0.1:8080 (docker-proxy,
          Docker's userland proxy, which answers for loopback)
- all:    one product instance directly (the ceiling for the gateway path), and the
          nginx peer in the gateway's place (local and netns)
"""

from __future__ import annotations

import socket
from dataclasses import dataclass

from shopnet.bench.wrk import WORKLOADS
from shopnet.runtime.base import InstanceStatus

PRODUCT_WORKLOADS = ("product_hit", "product_miss", "product_list")


@dataclass(frozen=True, slots=True)
class Target:
    name: str
    """Path name in results: gateway, gateway-direct, docker-proxy, product-direct, nginx."""
    url: str
    prefix: str = "/api"
    main: bool = False
    """The path every mode shares (the comparison's headline)."""

    @property
    def workloads(self) -> tuple[str, ...]:
        return PRODUCT_WORKLOADS if self.prefix == "" else WORKLOADS


def host_address() -> str:
    """This host's own non-loopback IPv4 address (the source of its default route)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # TEST-NET-1: nothing is sent, only routed
            return probe.getsockname()[0]
        except OSError:
            return "127.0.0.1"


def find(rows: list[InstanceStatus], instance: str) -> InstanceStatus | None:
    for row in rows:
        if row.instance == instance:
            return row
    return None


def plan_targets(mode: str, rows: list[InstanceStatus], published_port: int) -> list[Target]:
    targets: list[Target] = []
    if mode == "docker":
        targets.append(Target("gateway", f"http://{host_address()}:{published_port}", main=True))
        targets.append(Target("docker-proxy", f"http://127.0.0.1:{published_port}"))
    else:
        targets.append(Target("gateway", f"http://127.0.0.1:{published_port}", main=True))
        gateway = find(rows, "gateway-1")
        if mode == "netns" and gateway is not None:
            targets.append(Target("gateway-direct", f"http://{gateway.address}"))
    product = find(rows, "product-1")
    if product is not None:
        targets.append(Target("product-direct", f"http://{product.address}", prefix=""))
    return targets
