"""The topology as typed, immutable data: tiers, services, flows.

No side effects and no runtime imports (neither pyroute2 nor docker): the netns
driver, the compose renderer and the isolation tests all derive what they do
from these objects, so the three can never disagree about an address or a flow.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network

WORLD = "world"
"""Flow source meaning "outside the testbed" (the host's users through the published port)."""


class Kind(enum.StrEnum):
    APP = "app"
    """One of our aiohttp services; registers itself in the registry."""
    DATASTORE = "datastore"
    """Redis or PostgreSQL: started first, never scaled."""


@dataclass(frozen=True, slots=True)
class Tier:
    """A network segment: one bridge (netns) or one network (docker)."""

    name: str
    """Short name, e.g. `backend`; the compose network name."""
    bridge: str
    """Linux bridge name in netns mode, e.g. `br-backend` (at most 15 characters)."""
    subnet: IPv4Network
    """The tier's /24 (or larger); the host holds the first address."""
    internal: bool = False
    """No route out of the testbed (compose `internal: true`; no default route in netns)."""

    @property
    def host_address(self) -> IPv4Address:
        """The host's address on this tier: the instances' router."""
        return self.subnet.network_address + 1

    @property
    def dynamic_range(self) -> IPv4Network:
        """Upper half of the subnet, for addresses Docker assigns to scaled replicas.

        Static addresses live in the lower half, so the two never collide.
        """
        return list(self.subnet.subnets(prefixlen_diff=1))[1]


@dataclass(frozen=True, slots=True)
class Service:
    """A service of the stack and where its instances live."""

    name: str
    """Service name, e.g. `product`: registry name, compose service, `--scale` key."""
    tier: str
    """Home tier: where its instances get addresses."""
    port: int
    """TCP port every instance listens on."""
    host: int
    """Host part of the first instance's address; instance i takes host + i - 1."""
    kind: Kind = Kind.APP
    max_instances: int = 1
    """Upper bound for `--scale`; 1 means not scalable."""
    cpus: float = 1.0
    """CPU limit (cores), as Docker's `cpus`."""
    memory_mb: int = 256
    """Memory limit in MiB."""
    depends_on: tuple[str, ...] = ()
    """Services that must be ready before this one starts."""
    admin_port: int = 0
    """Port of its admin listener (/ready, /metrics), reachable from the host only; 0: none,
    they are on `port`."""

    @property
    def scalable(self) -> bool:
        return self.max_instances > 1


@dataclass(frozen=True, slots=True)
class Flow:
    """One allowed connection: `source` may open TCP connections to `target:port`."""

    source: str
    """A service name, or WORLD."""
    target: str
    port: int


@dataclass(frozen=True, slots=True)
class Instance:
    """One running copy of a service, with its place in the network."""

    service: Service
    index: int
    """1-based."""
    address: IPv4Address
    tier: Tier

    @property
    def name(self) -> str:
        """Instance name, e.g. `product-2`; namespaces and processes carry it."""
        return f"{self.service.name}-{self.index}"

    @property
    def port(self) -> int:
        return self.service.port


@dataclass(frozen=True, slots=True)
class Topology:
    """Tiers, services and allowed flows of one testbed."""

    prefix: str
    published_port: int
    tiers: tuple[Tier, ...]
    services: tuple[Service, ...]
    flows: tuple[Flow, ...]

    def tier(self, name: str) -> Tier:
        for tier in self.tiers:
            if tier.name == name:
                return tier
        raise KeyError(name)

    def service(self, name: str) -> Service:
        for service in self.services:
            if service.name == name:
                return service
        raise KeyError(name)

    def service_tier(self, name: str) -> Tier:
        return self.tier(self.service(name).tier)

    def allows(self, source: str, target: str, port: int) -> bool:
        """Whether a connection from service `source` to `target:port` is allowed."""
        return any(f.source == source and f.target == target and f.port == port for f in self.flows)

    def networks_of(self, service: str) -> tuple[str, ...]:
        """Tiers a service must be attached to when there is no router (Docker).

        Its home tier, plus the tier of every service it may call.
        """
        names = [self.service(service).tier]
        for flow in self.flows:
            if flow.source == service:
                tier = self.service(flow.target).tier
                if tier not in names:
                    names.append(tier)
        return tuple(sorted(names, key=[t.name for t in self.tiers].index))

    def registration_subnets(self, service: str) -> tuple[IPv4Network, ...]:
        """Where instances of `service` may say they are, registering: their home tier, and
        the registry's tier when they reach the registry there (Docker attaches them to it)."""
        subnets = [self.service_tier(service).subnet]
        registry = next((s for s in self.services if s.name == "registry"), None)
        if registry is not None and self.allows(service, "registry", registry.port):
            registry_tier = self.service_tier("registry").subnet
            if registry_tier not in subnets:
                subnets.append(registry_tier)
        return tuple(subnets)

    def start_order(self) -> tuple[Service, ...]:
        """Services ordered so each comes after what it depends on (datastores first)."""
        done: list[Service] = []
        pending = sorted(self.services, key=lambda s: s.kind != Kind.DATASTORE)
        while pending:
            for service in pending:
                if all(dep in {d.name for d in done} for dep in service.depends_on):
                    done.append(service)
                    pending.remove(service)
                    break
            else:  # pragma: no cover - validate() rejects cycles
                raise ValueError("dependency cycle")
        return tuple(done)

    def plan(self, scale: dict[str, int] | None = None) -> tuple[Instance, ...]:
        """Every instance with its address, in start order; `scale` sets instance counts."""
        scale = scale or {}
        instances = []
        for service in self.start_order():
            tier = self.tier(service.tier)
            for index in range(1, scale.get(service.name, 1) + 1):
                address = tier.subnet.network_address + service.host + index - 1
                instances.append(Instance(service, index, address, tier))
        return tuple(instances)
