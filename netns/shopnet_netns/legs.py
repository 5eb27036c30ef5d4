"""The attached wiring's legs (plan.py): an instance's place on each other tier it talks to."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Interface
from typing import TYPE_CHECKING

from shopnet.errors import ConfigError
from shopnet.topology.model import Instance, Tier, Topology
from shopnet_netns.names import Names, Role

if TYPE_CHECKING:
    from shopnet_netns.plan import Endpoint


@dataclass(frozen=True, slots=True)
class Leg:
    """An extra veth of an attached instance: its place on a tier that is not its home."""

    tier: Tier
    bridge: str
    veth: str
    """Host-side end, e.g. `sn-gateway-1.2` (`.<tier position>`), enslaved to `bridge`."""
    ifname: str
    """The end inside the namespace: `eth1`, `eth2` … in tier order."""
    address: IPv4Interface
    marker: str


def legs_of(topology: Topology, names: Names, instance: Instance) -> tuple[Leg, ...]:
    service = instance.service
    legs = []
    position = {tier.name: i for i, tier in enumerate(topology.tiers, start=1)}
    others = [t for t in topology.networks_of(service.name) if t != service.tier]
    for number, tier_name in enumerate(others, start=1):
        tier = topology.tier(tier_name)
        upper = tier.dynamic_range
        address = upper.network_address + service.host + instance.index - 1
        if address >= upper.broadcast_address:
            raise ConfigError(
                f"attached wiring: {instance.name}'s leg on {tier.name} would be {address}, "
                f"outside {upper} (lower the service's host number)"
            )
        legs.append(
            Leg(
                tier=tier,
                bridge=tier.bridge,
                veth=names.leg_veth(instance.name, position[tier.name]),
                ifname=f"eth{number}",
                address=IPv4Interface(f"{address}/{tier.subnet.prefixlen}"),
                marker=names.marker(Role.VETH, f"{instance.name}.{tier.name}"),
            )
        )
    return tuple(legs)


def check_unique(endpoints: Sequence[Endpoint]) -> None:
    """Two legs on one tier can collide when services of different tiers share a host number."""
    owner: dict[IPv4Address, str] = {}
    for endpoint in endpoints:
        for address in endpoint.addresses:
            if address in owner:
                raise ConfigError(
                    f"attached wiring: {owner[address]} and {endpoint.name} would both use "
                    f"{address}; give their services different host numbers"
                )
            owner[address] = endpoint.name
