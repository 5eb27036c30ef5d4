"""Several simulated hosts joined by VXLAN (`--hosts N`), as data.

Each host is a network namespace of its own (`<prefix>-host<k>`) holding every
tier's bridge, with its own address on each tier (`.k`: host 1 keeps the
single host's `.1`), so an instance routes via the host it runs on. The hosts'
"physical" network, the underlay, is one bridge on the real host
(`<prefix>-under`, host k's port `<prefix>-host<k>`: named after the prefix, not
the shared veth prefix, so two stacks' underlays never clash) with a subnet of
its own; host k's `up0` has `.k` on it,
the real host `.254`. Each tier is stretched across the hosts by one VXLAN
device per tier and host (`vx<VNI>`, one VNI per tier, UDP 4789), learning off
and no multicast: the forwarding entries are static and come from the plan —
an all-zero entry per remote host (head-end replication of broadcasts such as
ARP) and one per MAC address living on a remote host. That is why every
interface on a tier gets a MAC derived from its address (`02:53:` + the four
address bytes). Encapsulation costs 50 bytes over IPv4, so everything on a
tier — VXLAN devices, bridges, both ends of every veth — gets MTU 1450 on the
1500 underlay; a 1500-byte frame would otherwise be dropped at the VXLAN port.

The real host reaches each instance through a /32 route via the underlay
address of the host it runs on, so administration and the DNAT for the
published port take the same symmetric path. Between instances on different
hosts the request is routed by the source's host and the reply by the
target's; both hosts still see both directions (one routed, one bridged, and
br_netfilter passes bridged IPv4 through the forward hook), so each host's
conntrack and firewall work as on one host.

Instances are placed round-robin over the hosts in start order (postgres on
host 1, redis on host 2, …), so even singletons spread and scaled services land
on different hosts — except those the topology's `[placement]` pins to a host.
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Interface, IPv4Network

from shopnet.errors import ConfigError
from shopnet.topology.model import Instance, Tier, Topology
from shopnet_netns.names import Names, Role, check_ifname

VXLAN_PORT = 4789
"""IANA's VXLAN port (Linux defaults to 8472 when none is given)."""
VNI_BASE = 100
"""Tier i (1-based, topology order) is VNI 100 + i."""
UNDERLAY_MTU = 1500
ENCAPSULATION = 50
"""Outer Ethernet 14 + IPv4 20 + UDP 8 + VXLAN 8."""
TIER_MTU = UNDERLAY_MTU - ENCAPSULATION
UPLINK = "up0"
"""A host's leg on the underlay, inside its namespace."""
FLOOD = "00:00:00:00:00:00"
UNDERLAY_CANDIDATES = IPv4Network("10.199.0.0/16")
"""Where an underlay /24 is chosen from when none is given (first free one)."""


def mac_for(address: IPv4Address) -> str:
    """Locally administered unicast MAC of the interface holding `address` on a tier."""
    return ":".join(f"{b:02x}" for b in (0x02, 0x53, *address.packed))


@dataclass(frozen=True, slots=True)
class FdbEntry:
    """One static forwarding entry of a VXLAN device: frames for `mac` go to VTEP `remote`."""

    mac: str
    """FLOOD (all zeros): a flood target for broadcast and unknown unicast."""
    remote: IPv4Address


@dataclass(frozen=True, slots=True)
class VxlanPlan:
    """A tier's VXLAN device in one host, enslaved to that host's tier bridge."""

    tier: Tier
    name: str
    vni: int
    local: IPv4Address
    fdb: tuple[FdbEntry, ...]
    mtu: int = TIER_MTU


@dataclass(frozen=True, slots=True)
class HostBridge:
    """A tier's bridge inside one host namespace."""

    tier: Tier
    name: str
    address: IPv4Interface
    """The host's router address on the tier (`.k`)."""
    mac: str
    mtu: int = TIER_MTU


@dataclass(frozen=True, slots=True)
class HostPlan:
    """One simulated host: a namespace with every tier's bridge and VXLAN device."""

    name: str
    """`host1` … what `status` shows."""
    namespace: str
    veth: str
    """Its underlay port on the real host, `<prefix>-host<k>` (peer: UPLINK inside)."""
    uplink: IPv4Interface
    """UPLINK's address: its VTEP address."""
    marker: str
    bridges: tuple[HostBridge, ...]
    vxlans: tuple[VxlanPlan, ...]

    def bridge(self, tier: str) -> HostBridge:
        return next(b for b in self.bridges if b.tier.name == tier)


@dataclass(frozen=True, slots=True)
class UnderlayPlan:
    """The hosts' shared segment: a bridge on the real host."""

    bridge: str
    address: IPv4Interface
    """The real host's address on it (`.254`): the hosts' default gateway, the admin source."""
    marker: str
    routes: tuple[tuple[IPv4Address, IPv4Address], ...]
    """(instance address, via the underlay address of its host): the real host's /32 routes."""

    @property
    def subnet(self) -> IPv4Network:
        return self.address.network


def choose_underlay(taken: list[IPv4Network]) -> IPv4Network:
    """The first /24 of UNDERLAY_CANDIDATES that overlaps nothing in `taken`."""
    for candidate in UNDERLAY_CANDIDATES.subnets(new_prefix=24):
        if not any(candidate.overlaps(t) for t in taken):
            return candidate
    raise ConfigError(f"no free /24 for the underlay in {UNDERLAY_CANDIDATES}")


def place(
    instances: tuple[Instance, ...], hosts: int, pinned: tuple[tuple[str, int], ...] = ()
) -> dict[str, int]:
    """Instance name → host number (1-based): the topology's `[placement]` for the instances
    it names, round-robin in start order for the others."""
    fixed = dict(pinned)
    for name, host in fixed.items():
        if host > hosts:
            raise ConfigError(f"the topology places {name} on host {host}, but there are {hosts}")
    placed, turn = {}, 0
    for inst in instances:
        if inst.name in fixed:
            placed[inst.name] = fixed[inst.name]
        else:
            placed[inst.name] = turn % hosts + 1
            turn += 1
    return placed


def router(tier: Tier, host: int) -> IPv4Address:
    """Host `host`'s address on `tier`: `.1` for host 1, `.2` for host 2 …"""
    return tier.host_address + host - 1


def plan_hosts(
    topology: Topology,
    names: Names,
    instances: tuple[Instance, ...],
    *,
    hosts: int,
    subnet: IPv4Network,
) -> tuple[tuple[HostPlan, ...], UnderlayPlan, dict[str, int]]:
    """The hosts, the underlay and where each instance runs."""
    if subnet.prefixlen > 24:
        raise ConfigError(f"underlay {subnet}: needs at least a /24")
    for tier in topology.tiers:
        if tier.subnet.overlaps(subnet):
            raise ConfigError(f"underlay {subnet} overlaps tier {tier.name} ({tier.subnet})")
    placement = place(instances, hosts, topology.placement)
    taken = {inst.address: inst.name for inst in instances}
    uplinks = [
        IPv4Interface(f"{subnet.network_address + k}/{subnet.prefixlen}")
        for k in range(1, hosts + 1)
    ]
    for tier in topology.tiers:
        for k in range(1, hosts + 1):
            if (address := router(tier, k)) in taken:
                raise ConfigError(
                    f"--hosts {hosts}: host {k}'s address on {tier.name} ({address}) is "
                    f"{taken[address]}'s; use fewer hosts"
                )
    # Every MAC on a tier, with the host it lives on: instances, then the hosts' bridges.
    macs: dict[str, list[tuple[str, int]]] = {t.name: [] for t in topology.tiers}
    for inst in instances:
        macs[inst.tier.name].append((mac_for(inst.address), placement[inst.name]))
    for tier in topology.tiers:
        macs[tier.name] += [(mac_for(router(tier, k)), k) for k in range(1, hosts + 1)]
    plans = []
    for k in range(1, hosts + 1):
        local = uplinks[k - 1].ip
        remotes = [(uplinks[j - 1].ip, j) for j in range(1, hosts + 1) if j != k]
        vxlans = []
        for position, tier in enumerate(topology.tiers, start=1):
            vni = VNI_BASE + position
            fdb = [FdbEntry(FLOOD, ip) for ip, _ in remotes]
            fdb += [FdbEntry(mac, uplinks[j - 1].ip) for mac, j in macs[tier.name] if j != k]
            vxlans.append(VxlanPlan(tier, check_ifname(f"vx{vni}"), vni, local, tuple(fdb)))
        bridges = tuple(
            HostBridge(
                tier=tier,
                name=check_ifname(tier.bridge),
                address=IPv4Interface(f"{router(tier, k)}/{tier.subnet.prefixlen}"),
                mac=mac_for(router(tier, k)),
            )
            for tier in topology.tiers
        )
        plans.append(
            HostPlan(
                name=f"host{k}",
                namespace=names.namespace(f"host{k}"),
                veth=check_ifname(f"{names.prefix[:9]}-host{k}"),
                uplink=uplinks[k - 1],
                marker=names.marker(Role.VETH, f"host{k}"),
                bridges=bridges,
                vxlans=tuple(vxlans),
            )
        )
    routes = tuple((inst.address, uplinks[placement[inst.name] - 1].ip) for inst in instances)
    underlay = UnderlayPlan(
        bridge=check_ifname(f"{names.prefix[:9]}-under"),
        address=IPv4Interface(f"{subnet.network_address + 254}/{subnet.prefixlen}"),
        marker=names.marker(Role.BRIDGE, "underlay"),
        routes=routes,
    )
    return tuple(plans), underlay, placement
