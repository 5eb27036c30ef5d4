"""The network one topology needs, as data: bridges, endpoints, routes, published port.

Two wirings (the topology's `[wirings] netns`):

- routed (the default): each instance has one leg, `eth0` on its home tier's
  bridge, and routes via the host (`.1`), which routes between the bridges;
- attached: like Docker, each instance also gets a leg (`eth1`, `eth2` … in tier
  order) on the bridge of every other tier it talks to, so every allowed
  connection is on-link and the host routes nothing between tiers. A leg takes
  the address `<upper half of that tier> + <the service's host number> + i - 1`
  (the lower half holds the tiers' own instances). An instance on an internal
  tier gets no route at all: its peers reach it on-link, so "no route out" holds.

With `hosts` > 1 the same plan also holds the simulated hosts, their underlay and
where each instance runs (hostplan.py); each endpoint then routes via its own
host's address on its tier.

Pure and side-effect free (like the topology model it reads): `build`, the
firewall renderer, the isolation matrix and the tests all derive what they do
from one `NetworkPlan`, so they cannot disagree about an address or a route.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from ipaddress import IPv4Address, IPv4Interface, IPv4Network

from shopnet.errors import ConfigError
from shopnet.topology.model import WORLD, Instance, Tier, Topology, Wiring
from shopnet_netns import hostplan
from shopnet_netns.hostplan import HostPlan, UnderlayPlan
from shopnet_netns.legs import Leg, check_unique, legs_of
from shopnet_netns.names import Names, Role, check_ifname

DEFAULT_ROUTE = IPv4Network("0.0.0.0/0")


@dataclass(frozen=True, slots=True)
class Route:
    """A route inside an instance's namespace."""

    destination: IPv4Network
    """0.0.0.0/0 for the default route."""
    gateway: IPv4Address
    """The host's address on the instance's tier."""


@dataclass(frozen=True, slots=True)
class BridgePlan:
    """One tier's bridge on the host."""

    tier: Tier
    name: str
    """Bridge interface name (the topology's `bridge`)."""
    address: IPv4Interface
    """The host's address on the tier (`.1/24`): the instances' router."""
    marker: str
    """IFLA_IFALIAS that marks it as ours."""


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One instance's place in the network."""

    instance: Instance
    namespace: str
    """Network namespace, e.g. `shopnet-product-2`."""
    veth: str
    """Host-side veth end, enslaved to `bridge`; its peer is `eth0` in the namespace."""
    bridge: str
    address: IPv4Interface
    """Address of `eth0` in the namespace."""
    routes: tuple[Route, ...]
    marker: str
    legs: tuple[Leg, ...] = ()
    """Its legs on other tiers (attached wiring; none when routed)."""
    host: str | None = None
    """The simulated host it runs on (`host2`); None on a single host."""
    mac: str | None = None
    """eth0's MAC, fixed so the VXLAN forwarding entries can name it (hosts only)."""
    mtu: int | None = None
    """eth0's MTU, lowered for VXLAN encapsulation (hosts only)."""

    @property
    def name(self) -> str:
        return self.instance.name

    @property
    def addresses(self) -> tuple[IPv4Address, ...]:
        """Every address of the instance: home first, then its legs'."""
        return (self.address.ip, *(leg.address.ip for leg in self.legs))

    def address_on(self, tier: str) -> IPv4Address:
        """The source address its connections to `tier` carry: a leg's there, else home."""
        for leg in self.legs:
            if leg.tier.name == tier:
                return leg.address.ip
        return self.address.ip


@dataclass(frozen=True, slots=True)
class Published:
    """The host port that reaches the world-facing service (DNAT)."""

    port: int
    """Host port (topology.published_port)."""
    targets: tuple[IPv4Address, ...]
    """Instances of the world-facing service; connections are spread over them."""
    target_port: int
    bridge: str
    """Bridge the DNATed connections leave by (localhost traffic is masqueraded out of it):
    the tier's, or the underlay's with several hosts."""


@dataclass(frozen=True, slots=True)
class NetworkPlan:
    """Everything `build` creates for one topology at one scale."""

    topology: Topology
    names: Names
    bridges: tuple[BridgePlan, ...]
    endpoints: tuple[Endpoint, ...]
    published: Published | None
    wiring: Wiring = Wiring.ROUTED
    hosts: tuple[HostPlan, ...] = ()
    """The simulated hosts (`--hosts N`); empty: everything on the real host."""
    underlay: UnderlayPlan | None = None

    @classmethod
    def from_topology(
        cls,
        topology: Topology,
        scale: dict[str, int] | None = None,
        *,
        veth_prefix: str = "sn-",
        wiring: Wiring | None = None,
        hosts: int = 1,
        underlay: IPv4Network | None = None,
    ) -> NetworkPlan:
        wiring = wiring or Wiring.ROUTED
        if wiring not in (Wiring.ROUTED, Wiring.ATTACHED):
            raise ConfigError(f"netns mode cannot use wiring {wiring!r} (routed or attached)")
        if hosts > 1 and wiring is not Wiring.ROUTED:
            raise ConfigError("several hosts need the routed wiring")
        names = Names(topology.prefix, veth_prefix)
        _check_scale(topology, scale or {})
        instances = topology.plan(scale)
        host_plans: tuple[HostPlan, ...] = ()
        under: UnderlayPlan | None = None
        placement: dict[str, int] = {}
        if hosts > 1:
            host_plans, under, placement = hostplan.plan_hosts(
                topology,
                names,
                instances,
                hosts=hosts,
                subnet=underlay or hostplan.choose_underlay([]),
            )
        bridges = tuple(
            BridgePlan(
                tier=tier,
                name=check_ifname(tier.bridge),
                address=IPv4Interface(f"{tier.host_address}/{tier.subnet.prefixlen}"),
                marker=names.marker(Role.BRIDGE, tier.name),
            )
            for tier in topology.tiers
        )
        endpoints = tuple(
            Endpoint(
                instance=inst,
                namespace=names.namespace(inst.name),
                veth=names.veth(inst.name),
                bridge=inst.tier.bridge,
                address=IPv4Interface(f"{inst.address}/{inst.tier.subnet.prefixlen}"),
                routes=_routes(topology, inst, wiring, placement, under),
                marker=names.marker(Role.VETH, inst.name),
                legs=legs_of(topology, names, inst) if wiring is Wiring.ATTACHED else (),
                host=f"host{placement[inst.name]}" if placement else None,
                mac=hostplan.mac_for(inst.address) if placement else None,
                mtu=hostplan.TIER_MTU if placement else None,
            )
            for inst in instances
        )
        check_unique(endpoints)
        published = _published(topology, instances)
        if published is not None and under is not None:
            published = replace(published, bridge=under.bridge)
        return cls(topology, names, bridges, endpoints, published, wiring, host_plans, under)

    def host_of(self, endpoint: Endpoint) -> HostPlan | None:
        """The simulated host `endpoint` runs on; None on a single host."""
        return next((h for h in self.hosts if h.name == endpoint.host), None)

    def admin_address(self, endpoint: Endpoint) -> IPv4Address:
        """The source address the real host's own connections to `endpoint` carry."""
        if self.underlay is not None:
            return self.underlay.address.ip
        return endpoint.instance.tier.host_address

    def endpoint(self, instance: str) -> Endpoint:
        for endpoint in self.endpoints:
            if endpoint.name == instance:
                return endpoint
        raise KeyError(instance)

    def bridge(self, tier: str) -> BridgePlan:
        for bridge in self.bridges:
            if bridge.tier.name == tier:
                return bridge
        known = ", ".join(b.tier.name for b in self.bridges)
        raise ConfigError(f"unknown tier {tier!r} (tiers: {known})")

    def instances_of(self, service: str) -> tuple[Endpoint, ...]:
        return tuple(e for e in self.endpoints if e.instance.service.name == service)


def routes_for(
    topology: Topology,
    tier: Tier,
    wiring: Wiring = Wiring.ROUTED,
    via: IPv4Address | None = None,
) -> tuple[Route, ...]:
    """Routes of an instance on `tier` (besides its on-link subnets).

    A tier with a way out gets a default route via the host. An internal tier gets
    none: routed, only routes to the tiers whose services it exchanges allowed
    flows with; attached, nothing at all (those peers have a leg on its tier). So
    "the database tier has no route out" holds at the routing level, before the
    firewall is even consulted.
    """
    via = via or tier.host_address
    if not tier.internal:
        return (Route(DEFAULT_ROUTE, via),)
    if wiring is Wiring.ATTACHED:
        return ()
    peers: list[Tier] = []
    for flow in topology.flows:
        if flow.source == WORLD:
            continue
        source, target = topology.service_tier(flow.source), topology.service_tier(flow.target)
        for mine, other in ((target, source), (source, target)):
            if mine.name == tier.name and other.name != tier.name and other not in peers:
                peers.append(other)
    return tuple(Route(peer.subnet, via) for peer in peers)


def _routes(
    topology: Topology,
    inst: Instance,
    wiring: Wiring,
    placement: dict[str, int],
    underlay: UnderlayPlan | None,
) -> tuple[Route, ...]:
    """routes_for via the instance's own host; on an internal tier with several hosts, also
    the way back to the real host's underlay address (administration: on one host the
    real host is on-link on every tier)."""
    via = hostplan.router(inst.tier, placement.get(inst.name, 1))
    routes = routes_for(topology, inst.tier, wiring, via)
    if underlay is not None and inst.tier.internal:
        routes += (Route(IPv4Network(f"{underlay.address.ip}/32"), via),)
    return routes


def _published(topology: Topology, instances: tuple[Instance, ...]) -> Published | None:
    world = {(f.target, f.port) for f in topology.flows if f.source == WORLD}
    if not world:
        return None
    if len(world) > 1:
        listed = ", ".join(f"{t}:{p}" for t, p in sorted(world))
        raise ConfigError(
            f"one published port cannot reach several world-facing services ({listed})"
        )
    service, port = next(iter(world))
    targets = tuple(i.address for i in instances if i.service.name == service)
    return Published(
        port=topology.published_port,
        targets=targets,
        target_port=port,
        bridge=topology.service_tier(service).bridge,
    )


def _check_scale(topology: Topology, scale: dict[str, int]) -> None:
    for name, count in scale.items():
        try:
            service = topology.service(name)
        except KeyError:
            raise ConfigError(f"scale: unknown service {name!r}") from None
        if not 1 <= count <= service.max_instances:
            raise ConfigError(f"scale: {name} takes 1 to {service.max_instances} instances")
