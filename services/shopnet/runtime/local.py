"""Local mode: every instance is a plain process on 127.0.0.1. No root needed.

Useful as the baseline of the comparison (no namespaces, no bridges, no NAT)
and for working on the services. Ports: the gateway listens on the topology's
published port (8080) as in the other modes; the other services on their
topology ports, scaled instances 10 ports apart (product-2 on 3011); Redis and
PostgreSQL 10000 above theirs (16379, 15432) so a system-wide server on the
standard port does not get in the way.

Started as root, each instance gets a pids cgroup of its own (`pids.max`, see
shopnet.runtime.pids) under `shopnet-local-<hash of the state directory>`; no CPU or
memory limits, so local stays the unconstrained baseline. An ordinary user cannot make
cgroups (nor would RLIMIT_NPROC help: it counts all of that user's processes).
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import subprocess
from collections.abc import Callable

from shopnet.runtime import cgroups, ports
from shopnet.runtime.base import DownResult
from shopnet.runtime.hosted import HostedDriver
from shopnet.runtime.launch import Placement
from shopnet.runtime.state import InstanceRecord
from shopnet.topology.model import Kind, Service

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

    # -- pids limits (as root) -------------------------------------------------

    @property
    def cgroup_parent(self) -> str:
        """Our parent cgroup: one per state directory, so stacks side by side stay apart."""
        digest = hashlib.sha256(str(self.layout.dir.resolve()).encode()).hexdigest()[:8]
        return f"shopnet-local-{digest}"

    def _pids_cgroup(self, instance: str, service: Service) -> Callable[[], None] | None:
        if os.geteuid() != 0:
            return None
        limits = cgroups.apply(self.cgroup_parent, instance, service, only=("pids",))
        for problem in limits.problems:
            note = f"{instance}: {problem}"
            if note not in self.notes:
                self.progress.warn(note)
                self.notes.append(note)

        def enter() -> None:
            cgroups.place(limits)  # in the child: problems were reported when applied

        return enter

    def enter_placement(self, placement: Placement) -> Callable[[], None] | None:
        return self._pids_cgroup(placement.name, placement.instance.service)

    def enter_for_restart(self, record: InstanceRecord) -> Callable[[], None] | None:
        known = {s.name: s for s in self.topology.services}
        if record.service not in known:  # a process the supervisor watches for a test
            return None
        return self._pids_cgroup(record.name, known[record.service])

    def down(self, *, volumes: bool = False) -> DownResult:
        result = super().down(volumes=volumes)
        if os.geteuid() != 0:
            return result
        # The processes are stopped: their cgroups are empty now (strays are stopped first).
        removed, problems = cgroups.remove(self.cgroup_parent)
        return dataclasses.replace(
            result,
            removed=(*result.removed, *removed),
            problems=(*result.problems, *problems),
        )

    def peer_port(self) -> int | None:
        """The bench's nginx peer: on loopback, next to the gateway's port."""
        return self.topology.published_port + 1

    def tier_segments(self) -> dict[str, str]:
        return {t.name: f"{LOOPBACK} · local mode: no segment" for t in self.topology.tiers}

    def exec(self, instance: str, argv: list[str]) -> int:
        self.require_state().instance(instance)
        return subprocess.run(argv, check=False).returncode
