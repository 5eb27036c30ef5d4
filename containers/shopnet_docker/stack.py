"""What of a docker stack exists: its containers, networks and volumes, found by label.

An object is ours when it carries both compose's project label and our
`io.shopnet.stack` label with the project name: a foreign compose project that
happens to be called `shopnet` is never touched, and neither is anything else.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from shopnet.errors import StateError
from shopnet_docker import names
from shopnet_docker.engine import Docker


@dataclass(frozen=True, slots=True)
class Network:
    id: str
    name: str
    """Docker's name, e.g. `shopnet_backend`."""
    tier: str
    """The topology tier (our `io.shopnet.tier` label)."""
    bridge: str
    """Host bridge interface."""
    subnet: str


@dataclass(frozen=True, slots=True)
class Container:
    id: str
    name: str
    service: str
    number: int
    """Compose's replica number (1-based)."""
    state: str
    """created / running / restarting / paused / exited / dead."""
    health: str
    """healthy / unhealthy / starting, or "" without a health check."""
    exit_code: int
    oom_killed: bool
    """The kernel killed it for exceeding its memory limit (last exit)."""
    restarts: int
    pid: int
    """Host pid of the container's first process (0 when it does not run)."""
    addresses: dict[str, str] = field(default_factory=dict)
    """Tier → IPv4 address."""
    macs: dict[str, str] = field(default_factory=dict)
    """Tier → MAC address of the container's interface there."""
    health_test: tuple[str, ...] = ()
    """Its Docker health check (`CMD`, argv…), which the driver can run itself (health.py)."""

    def address_on(self, tier: str) -> str:
        """Its address on `tier`'s network, or its only address (the single wiring's one
        network, where every container has exactly one); "" when neither."""
        if tier in self.addresses:
            return self.addresses[tier]
        return next(iter(self.addresses.values())) if len(self.addresses) == 1 else ""

    @property
    def instance(self) -> str:
        """`product-2`: the same instance names as the other modes."""
        return f"{self.service}-{self.number}"

    @property
    def running(self) -> bool:
        return self.state == "running"


class Stack:
    """One compose project's objects, as Docker reports them now."""

    def __init__(self, docker: Docker, project: str) -> None:
        self.docker = docker
        self.project = project

    def _filters(self) -> list[str]:
        return [
            "--filter", f"label={names.COMPOSE_PROJECT}={self.project}",
            "--filter", f"label={names.LABEL_STACK}={self.project}",
        ]  # fmt: skip

    def networks(self) -> list[Network]:
        ids = self.docker.lines(
            "network", "ls", "-q", "--no-trunc", *self._filters(), what="listing networks"
        )
        if not ids:
            return []
        found = []
        for data in self._inspect("network", ids):
            labels = data.get("Labels") or {}
            config = (data.get("IPAM") or {}).get("Config") or [{}]
            bridge = (data.get("Options") or {}).get("com.docker.network.bridge.name")
            found.append(
                Network(
                    id=data["Id"],
                    name=data["Name"],
                    # Ours first: compose 1.29 puts the network's full name in its own label
                    # when the file names the network, v2 the compose key.
                    tier=labels.get(names.LABEL_TIER) or labels.get(names.COMPOSE_NETWORK, ""),
                    bridge=bridge or f"br-{data['Id'][:12]}",
                    subnet=config[0].get("Subnet", ""),
                )
            )
        return sorted(found, key=lambda n: n.name)

    def containers(self) -> list[Container]:
        ids = self.docker.lines(
            "ps", "-a", "-q", "--no-trunc", *self._filters(), what="listing containers"
        )
        if not ids:
            return []
        tiers = {n.name: n.tier for n in self.networks()}
        found = [_container(data, tiers) for data in self._inspect("container", ids)]
        return sorted(found, key=lambda c: (c.service, c.number))

    def volumes(self) -> list[str]:
        return sorted(
            self.docker.lines("volume", "ls", "-q", *self._filters(), what="listing volumes")
        )

    def volume_exists(self, name: str) -> bool:
        """Whether the stack's named volume `name` (e.g. pgdata) exists."""
        return f"{self.project}_{name}" in self.volumes()

    def container(self, instance: str) -> Container:
        """The container of `product-2`; StateError listing the known ones otherwise."""
        containers = self.containers()
        for container in containers:
            if container.instance == instance:
                return container
        known = ", ".join(c.instance for c in containers) or "none"
        raise StateError(f"no instance {instance!r} in the docker stack (instances: {known})")

    def _inspect(self, kind: str, ids: list[str]) -> list[dict[str, Any]]:
        # Objects can vanish between `ls` and `inspect` (a concurrent `down`): inspect
        # them one call per batch and keep what still exists.
        out = self.docker.run(kind, "inspect", *ids, what=f"inspecting {kind}s", check=False)
        try:
            return json.loads(out.stdout or "[]") or []
        except ValueError:
            return []


def _container(data: dict[str, Any], tiers: dict[str, str]) -> Container:
    labels = data["Config"].get("Labels") or {}
    state = data.get("State") or {}
    networks = (data.get("NetworkSettings") or {}).get("Networks") or {}
    addresses, macs = {}, {}
    for network_name, endpoint in networks.items():
        tier = tiers.get(network_name, network_name)
        if endpoint.get("IPAddress"):
            addresses[tier] = endpoint["IPAddress"]
        if endpoint.get("MacAddress"):
            macs[tier] = endpoint["MacAddress"].lower()
    return Container(
        id=data["Id"],
        name=data["Name"].lstrip("/"),
        service=labels.get(names.COMPOSE_SERVICE) or labels.get(names.LABEL_SERVICE, "?"),
        number=int(labels.get(names.COMPOSE_NUMBER) or 1),
        state=state.get("Status", "unknown"),
        health=(state.get("Health") or {}).get("Status", ""),
        exit_code=int(state.get("ExitCode") or 0),
        oom_killed=bool(state.get("OOMKilled")),
        restarts=int(data.get("RestartCount") or 0),
        pid=int(state.get("Pid") or 0),
        addresses=addresses,
        macs=macs,
        health_test=tuple((data["Config"].get("Healthcheck") or {}).get("Test") or ()),
    )
