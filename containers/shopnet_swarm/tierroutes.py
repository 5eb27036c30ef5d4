"""The tiers' subnets claimed on both nodes with `unreachable` routes.

An overlay lives in Swarm's own namespaces: no node has a route to a tier's
subnet. A task on a non-internal overlay also has a docker_gwbridge leg with
the default route, through its node; so a packet to another tier's address (the
gateway probing PostgreSQL) left the node by *its* default route, towards
whatever answers there. On an uplink that accepts every TCP connection (a
transparent proxy) the probe connected, and the isolation matrix found the
gateway → postgres, redis pairs open. Docker mode's bridges claim the subnets on
the host, and Docker's isolation rules drop between them; here an `unreachable`
route per tier on each node does: the node answers ICMP host-unreachable, and no
packet for a tier leaves either node unencapsulated. Traffic inside a tier never
sees these routes (it stays in the overlay's namespace and its VXLAN).

Node 1's routes are in this host's main table, tagged with our routing protocol
number (ROUTE_PROTOCOL) so that `down` deletes only ours, and with a metric that
names the stack (`metric(stack)`) so that another prefix's `down`, whose topology
may well have the same subnets, finds none of them; node 2's go with its namespace.
"""

from __future__ import annotations

import json
import subprocess
import zlib
from ipaddress import IPv4Network

from shopnet.errors import PreflightError
from shopnet.topology.model import Topology
from shopnet_docker.preflight import host_routes
from shopnet_swarm.nodes import GWBRIDGE, GWBRIDGE_SUBNET, UNDERLAY, _ip

ROUTE_PROTOCOL = 151
"""`proto 151` on our routes: no routing daemon in /etc/iproute2/rt_protos uses it."""


METRICS = (1024, 60_000)
"""The range of the stack's metric: clear of the kernel's default 0 and of DHCP clients'."""


def metric(stack: str) -> int:
    """The stack's route metric: stable across runs, different for different stacks."""
    low, size = METRICS
    return low + zlib.crc32(stack.encode()) % size


def subnets(topology: Topology) -> list[IPv4Network]:
    return [tier.subnet for tier in topology.tiers]


def refuse_routed(topology: Topology) -> None:
    """The underlay and the tiers' subnets must be free here: a docker or netns stack
    routing one would get what our routes mean to drop (and share its addresses)."""
    wanted = [(f"the swarm underlay {UNDERLAY[0].network}", UNDERLAY[0].network)]
    wanted += [(f"our {GWBRIDGE}'s subnet {GWBRIDGE_SUBNET}", GWBRIDGE_SUBNET)]
    wanted += [(f"tier {t.name}'s subnet {t.subnet}", t.subnet) for t in topology.tiers]
    for ifname, network in host_routes():
        for what, subnet in wanted:
            if network.prefixlen and subnet.overlaps(network):
                raise PreflightError(
                    f"{what} overlaps {network} on {ifname}; "
                    "stop that stack or use another topology"
                )


def claim(topology: Topology, stack: str, netns: str) -> None:
    """Our routes on node 1 (this host) and node 2 (its namespace)."""
    for subnet in subnets(topology):
        _ip("route", "add", "unreachable", str(subnet), *_ours(stack))
        _ip("-n", netns, "route", "add", "unreachable", str(subnet))


def _ours(stack: str) -> tuple[str, ...]:
    return ("proto", str(ROUTE_PROTOCOL), "metric", str(metric(stack)))


def claimed(topology: Topology, stack: str) -> list[IPv4Network]:
    """`stack`'s routes on this host for the topology's subnets (node 2's leave with its
    netns)."""
    out = subprocess.run(
        ["ip", "-json", "route", "show", "type", "unreachable", "proto", str(ROUTE_PROTOCOL)],
        capture_output=True, text=True, timeout=15, check=False,
    )  # fmt: skip
    try:
        routes = json.loads(out.stdout or "[]")
    except ValueError:
        return []
    found = {route.get("dst") for route in routes if route.get("metric") == metric(stack)}
    return [subnet for subnet in subnets(topology) if str(subnet) in found]


def release(topology: Topology, stack: str) -> list[str]:
    """Delete `stack`'s routes on this host (type, protocol and metric must match)."""
    removed = []
    for subnet in claimed(topology, stack):
        _ip("route", "del", "unreachable", str(subnet), *_ours(stack))
        removed.append(f"route unreachable {subnet}")
    return removed
