"""Names and ownership markers of everything the netns layer creates.

Every object carries the topology prefix (default `shopnet`) so teardown can find
what is ours without any record: namespaces `shopnet-<instance>`, host-side veth
ends `sn-<instance>`, nftables table `inet shopnet`, iptables comment `shopnet`,
cgroups `<controller>/shopnet/<instance>`. Bridges use the topology's names
(`br-frontend`…), which do not carry the prefix, so every link we create is also
marked in IFLA_IFALIAS as `<prefix>:<role>:<name>` (containerlab marks its veths
the same way) and teardown deletes only links bearing that marker.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from shopnet.errors import ConfigError

IFNAMSIZ = 15
"""Longest Linux interface name (16 bytes with the terminating NUL)."""

_IFNAME = re.compile(r"^[A-Za-z0-9_.-]+$")
_PREFIX = re.compile(r"^[a-z][a-z0-9]*$")


class Role(enum.StrEnum):
    """What a marked link is; the middle field of its marker."""

    BRIDGE = "bridge"
    VETH = "veth"


def check_ifname(name: str) -> str:
    """`name` if Linux accepts it as an interface name, else ConfigError."""
    if not 0 < len(name) <= IFNAMSIZ:
        raise ConfigError(
            f"interface name {name!r} has {len(name)} characters; Linux allows 1 to {IFNAMSIZ}"
        )
    if not _IFNAME.match(name):
        raise ConfigError(f"interface name {name!r} may only hold letters, digits, '_', '.', '-'")
    return name


@dataclass(frozen=True, slots=True)
class Names:
    """How one testbed names its objects; derived from the topology prefix."""

    prefix: str = "shopnet"
    """Namespace prefix, nftables table, iptables comment, cgroup parent, link markers."""
    veth_prefix: str = "sn-"
    """Host-side veth ends: `<veth_prefix><instance>` (kept short for IFNAMSIZ)."""

    def __post_init__(self) -> None:
        if not _PREFIX.match(self.prefix) or len(self.prefix) > 20:
            raise ConfigError(
                f"prefix {self.prefix!r} must be lowercase letters and digits, "
                "starting with a letter, at most 20 characters"
            )
        if not self.veth_prefix or len(self.veth_prefix) > 6:
            raise ConfigError(f"veth prefix {self.veth_prefix!r} must be 1 to 6 characters")
        check_ifname(self.veth_prefix)

    def namespace(self, instance: str) -> str:
        """Network namespace of an instance, e.g. `shopnet-product-2`."""
        return f"{self.prefix}-{instance}"

    def veth(self, instance: str) -> str:
        """Host-side veth end of an instance, e.g. `sn-product-2` (validated)."""
        return check_ifname(f"{self.veth_prefix}{instance}")

    def leg_veth(self, instance: str, tier_position: int) -> str:
        """Host-side end of an attached instance's leg on the tier at `tier_position`
        (1-based, topology order), e.g. `sn-gateway-1.2` (validated)."""
        return check_ifname(f"{self.veth_prefix}{instance}.{tier_position}")

    def scratch_link(self, index: int) -> str:
        """Temporary name a bridge is created under, until it carries our marker.

        IFLA_IFALIAS cannot be set in the request that creates a link, so a build
        killed between the two requests would strand an unmarked bridge under a
        name teardown cannot claim. Creating it under this prefixed name, marking
        it, then renaming it closes that window. (Instance veths never contain
        this shape: instance names always hold a '-' after the service name.)
        """
        return check_ifname(f"{self.veth_prefix}new{index}")

    def is_scratch_link(self, ifname: str) -> bool:
        rest = ifname.removeprefix(f"{self.veth_prefix}new")
        return rest != ifname and rest.isdigit()

    def marker(self, role: Role, name: str) -> str:
        """IFLA_IFALIAS value that marks a link as ours, e.g. `shopnet:bridge:frontend`."""
        return f"{self.prefix}:{role.value}:{name}"

    def owns(self, alias: str | None) -> bool:
        """Whether a link's IFLA_IFALIAS carries our marker."""
        return alias is not None and alias.split(":", 1)[0] == self.prefix and alias.count(":") >= 2

    @property
    def nft_table(self) -> str:
        """Our nftables table, in family `inet`."""
        return self.prefix

    @property
    def comment(self) -> str:
        """Comment on every iptables rule we insert."""
        return self.prefix

    @property
    def cgroup(self) -> str:
        """Parent cgroup (under each controller's root) of our instances' cgroups."""
        return self.prefix
