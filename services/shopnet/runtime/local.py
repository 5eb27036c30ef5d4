"""Local mode: every instance is a plain process on 127.0.0.1. No root needed.

Useful as the baseline of the comparison (no namespaces, no bridges, no NAT)
and for working on the services. Ports: the gateway listens on the topology's
published port (8080) as in the other modes; the other services on their
topology ports, scaled instances 10 ports apart (product-2 on 3011); Redis and
PostgreSQL 10000 above theirs (16379, 15432) so a system-wide server on the
standard port does not get in the way.
"""

from __future__ import annotations

import subprocess

from shopnet.runtime import ports
from shopnet.runtime.hosted import HostedDriver
from shopnet.runtime.launch import Placement
from shopnet.topology.model import Kind

LOOPBACK = "127.0.0.1"
DATASTORE_PORT_OFFSET = 10000
SCALE_PORT_STEP = 10


class LocalDriver(HostedDriver):
    mode = "local"

    @property
    def gateway_url(self) -> str:
        return f"http://{LOOPBACK}:{self.topology.published_port}"

    def placements(self, scale: dict[str, int]) -> list[Placement]:
        placements = []
        for instance in self.topology.plan(scale):
            service = instance.service
            if service.kind is Kind.DATASTORE:
                port = service.port + DATASTORE_PORT_OFFSET
            elif service.name == "gateway":
                port = self.topology.published_port
            else:
                port = service.port + SCALE_PORT_STEP * (instance.index - 1)
            placements.append(Placement(instance, bind=LOOPBACK, address=LOOPBACK, port=port))
        return placements

    def check_placements(self, scale: dict[str, int], placements: list[Placement]) -> None:
        for placement in placements:
            ports.require_free(placement.port, what=f"for {placement.name}")
            if admin := placement.instance.service.admin_port:
                ports.require_free(admin, what=f"for {placement.name}'s admin listener")

    def peer_port(self) -> int | None:
        """The bench's nginx peer: on loopback, next to the gateway's port."""
        return self.topology.published_port + 1

    def tier_segments(self) -> dict[str, str]:
        return {t.name: f"{LOOPBACK} · local mode: no segment" for t in self.topology.tiers}

    def exec(self, instance: str, argv: list[str]) -> int:
        self.require_state().instance(instance)
        return subprocess.run(argv, check=False).returncode
