"""The topology as typed, immutable data: tiers, services, flows.

No side effects and no runtime imports (neither pyroute2 nor docker): the netns
driver, the compose renderer and the isolation tests all derive what they do
from these objects, so the three can never disagree about an address or a flow.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network

from shopnet.errors import ConfigError

WORLD = "world"
"""Flow source meaning "outside the testbed" (the host's users through the published port)."""


class Kind(enum.StrEnum):
    APP = "app"
    """One of our aiohttp services; registers itself in the registry."""
    DATASTORE = "datastore"
    """Redis or PostgreSQL: started first, never scaled; described by a Datastore."""


class Engine(enum.StrEnum):
    """What runs a datastore; every mode knows how to start each."""

    POSTGRES = "postgres"
    REDIS = "redis"


class Wiring(enum.StrEnum):
    """How a runtime attaches instances to the network (`--wiring`); a topology lists the
    ones it supports per mode, the first being that mode's default."""

    ROUTED = "routed"
    """netns: one leg per instance, on its home tier's bridge; the host routes between tiers."""
    ATTACHED = "attached"
    """netns: a leg on every tier the instance talks to (like Docker); nothing is routed."""
    TIERED = "tiered"
    """docker: one network per tier; a service joins the networks of the tiers it talks to."""
    SINGLE = "single"
    """docker: every service on one network (`single_network`, the seed's `app-network`)."""


class Discovery(enum.StrEnum):
    """Where the gateway learns the instances it balances over."""

    REGISTRY = "registry"
    """A long-poll watch on the registry (every mode)."""
    DNS = "dns"
    """The addresses the service name resolves to (Docker's embedded DNS), re-resolved."""


class Durability(enum.StrEnum):
    DURABLE = "durable"
    """Its data is the stack's: backed up, restored, kept across `down` (not `--volumes`)."""
    CACHE = "cache"
    """Disposable: nothing on disk, and flushed (its users' keys only) after a restore."""


@dataclass(frozen=True, slots=True)
class Datastore:
    """What a datastore service is."""

    engine: Engine
    durability: Durability


@dataclass(frozen=True, slots=True)
class StoreUse:
    """How one service uses one datastore: the part of it that service owns."""

    datastore: str
    """The datastore service's name, e.g. `postgres`."""
    schema: str | None = None
    """PostgreSQL: the schema the service owns (its migrations create it)."""
    db: int = 0
    """Redis: the database number."""
    key_prefix: str | None = None
    """Redis: the prefix of every key the service writes (a flush removes only these)."""


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
    datastore: Datastore | None = None
    """What it is, for a datastore (kind DATASTORE); None for our services."""
    uses: tuple[StoreUse, ...] = ()
    """The datastores it uses, and which part of each it owns."""
    admin_port: int = 0
    """Port of its admin listener (/ready, /metrics), reachable from the host only; 0: none,
    they are on `port`."""
    spec: str = ""
    """`module:attr` of its ServiceSpec (shopnet.spec); empty: ours of its name."""
    code: str = ""
    """The directory `spec`'s module (and the service's code) is imported from: added to
    its processes' PYTHONPATH and sandbox, nothing else (file: relative to the topology)."""

    @property
    def scalable(self) -> bool:
        return self.max_instances > 1

    def engine(self) -> Engine | None:
        return self.datastore.engine if self.datastore else None


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
    wirings: tuple[tuple[str, tuple[Wiring, ...]], ...] = (
        ("netns", (Wiring.ROUTED,)),
        ("docker", (Wiring.TIERED,)),
    )
    """Mode → the wirings this topology supports, its default first (file: `[wirings]`)."""
    single_network: Tier | None = None
    """The one network of docker's `single` wiring (`bridge` unused); None: not supported."""
    placement: tuple[tuple[str, int], ...] = ()
    """Instance → the simulated host (1-based) that runs it under netns `--hosts N`
    (file: `[placement]`); instances not named are placed round-robin."""

    def wirings_for(self, mode: str) -> tuple[Wiring, ...]:
        """The wirings `mode` may use with this topology (empty: the mode has no choice)."""
        return dict(self.wirings).get(mode, ())

    def wiring(self, mode: str, wanted: str | None = None) -> Wiring | None:
        """`wanted` checked against what the topology supports, or `mode`'s default."""
        supported = self.wirings_for(mode)
        if wanted is None:
            return supported[0] if supported else None
        if wanted not in supported:
            offered = ", ".join(supported) or "none: it has no wiring to choose"
            raise ConfigError(
                f"{mode} mode cannot use wiring {wanted!r} (this topology supports: {offered})"
            )
        return Wiring(wanted)

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

    def datastores(self, engine: Engine | None = None) -> tuple[Service, ...]:
        """The datastore services (of one engine), in file order."""
        return tuple(
            s
            for s in self.services
            if s.datastore is not None and (engine is None or s.datastore.engine is engine)
        )

    def users_of(self, datastore: str) -> tuple[tuple[Service, StoreUse], ...]:
        """Every (service, how it uses it) of `datastore`."""
        return tuple(
            (service, use) for service in self.services for use in service.uses
            if use.datastore == datastore
        )  # fmt: skip

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

    def attachments(self, service: str, wiring: Wiring | None) -> tuple[str, ...]:
        """The networks (tier names) a service's instances are attached to under `wiring`.

        routed (and no wiring: local): the home tier only, the host routes the rest;
        attached and tiered: every tier it talks to (`networks_of`); single: the one network.
        """
        if wiring in (Wiring.ATTACHED, Wiring.TIERED):
            return self.networks_of(service)
        if wiring is Wiring.SINGLE and self.single_network is not None:
            return (self.single_network.name,)
        return (self.service(service).tier,)

    def registration_subnets(
        self, service: str, wiring: Wiring | None = None
    ) -> tuple[IPv4Network, ...]:
        """Where instances of `service` may say they are, registering: their home tier, and
        the registry's tier when they reach the registry there (Docker attaches them to it,
        netns attached gives them a leg on it); under the single wiring, the one network."""
        if wiring is Wiring.SINGLE and self.single_network is not None:
            return (self.single_network.subnet,)
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
