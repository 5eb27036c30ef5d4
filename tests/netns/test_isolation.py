"""The built network against the topology: the isolation matrix, DNAT, rebuilds."""

from __future__ import annotations

import socket
import subprocess
import time
from ipaddress import IPv4Address
from pathlib import Path

from pyroute2 import IPRoute

from shopnet_netns import NetworkPlan, build, firewall, isolation, namespaces
from shopnet_netns.isolation import Expect, Outcome
from shopnet_netns.listeners import Listeners
from tests.netns.helpers import root_only

pytestmark = root_only


def by_key(results: list[isolation.Result]) -> dict[tuple[str, str, int], isolation.Result]:
    return {(r.probe.source, r.probe.target, r.probe.port): r for r in results}


def test_isolation_matrix_matches_the_topology(network: NetworkPlan) -> None:
    results = isolation.check(network)
    print("\n" + isolation.format_matrix(results))

    assert [r.describe() for r in results if not r.ok] == []
    found = by_key(results)
    # Spot checks, so a matrix that silently probed nothing cannot pass.
    assert found[("product-2", "redis-1", 6379)].outcome is Outcome.CONNECTED
    assert found[("product-2", "redis-1", 6379)].seen_from == str(
        network.endpoint("product-2").address.ip
    )
    assert found[("order-1", "product-1", 3001)].outcome is Outcome.CONNECTED
    assert found[("gateway-1", "postgres-1", 5432)].outcome is Outcome.TIMEOUT
    assert found[("product-1", "product-2", 3001)].outcome is Outcome.TIMEOUT  # same bridge
    assert found[("redis-1", "gateway-1", 3000)].outcome is Outcome.UNREACHABLE  # no route
    assert found[("postgres-1", "outside", 80)].outcome is Outcome.UNREACHABLE
    assert found[("host", "postgres-1", 5432)].outcome is Outcome.CONNECTED
    assert sum(r.probe.expect is Expect.CONNECT for r in results) == 7 + 14


def test_matrix_catches_a_missing_firewall_and_build_repairs_it(network: NetworkPlan) -> None:
    firewall.remove(network.names)
    broken = by_key(isolation.check(network))
    # Without our table, the drops are gone: the matrix must say so. (gateway →
    # postgres still fails: the database tier has no route back to the frontend.)
    assert broken[("order-1", "redis-1", 6379)].outcome is Outcome.CONNECTED
    assert not broken[("order-1", "redis-1", 6379)].ok
    assert broken[("gateway-1", "product-1", 3002)].outcome is Outcome.CONNECTED
    assert broken[("product-1", "product-2", 3001)].outcome is Outcome.CONNECTED
    assert not broken[("registry-1", "host", broken_host_port(broken))].ok

    build(network)
    assert [r.describe() for r in isolation.check(network) if not r.ok] == []


def broken_host_port(results: dict[tuple[str, str, int], isolation.Result]) -> int:
    return next(port for (source, target, port) in results if target == "host")


def host_address(plan: NetworkPlan) -> str:
    """A non-loopback address of the host outside our tiers (e.g. eth0's)."""
    ours = [b.tier.subnet for b in plan.bridges]
    with IPRoute() as ipr:
        for addr in ipr.get_addr(family=socket.AF_INET):
            address = IPv4Address(addr.get("IFA_ADDRESS"))
            if not address.is_loopback and not any(address in net for net in ours):
                return str(address)
    raise AssertionError("the host has no non-loopback IPv4 address")


def wait_seen(listeners: Listeners, address: str, port: int, local_port: int) -> str:
    """The source address the listener saw for our connection (accepted a moment later)."""
    deadline = time.monotonic() + 2.0
    while True:
        for peer_address, peer_port in listeners.peers(address, port):
            if peer_port == local_port:
                return peer_address
        assert time.monotonic() < deadline, f"connection from port {local_port} not seen"
        time.sleep(0.01)


def test_published_port_reaches_the_gateway(network: NetworkPlan) -> None:
    published = network.published
    assert published is not None
    gateway = str(published.targets[0])
    frontend_host = str(network.bridge("frontend").address.ip)
    own = host_address(network)
    with Listeners(network) as listeners:
        for target, seen_as in (
            # DNAT in output + masquerade: loopback sources cannot leave on a bridge.
            (("127.0.0.1", published.port), frontend_host),
            # DNAT in output; the host's own address is routable as it is.
            ((own, published.port), own),
            # No NAT at all: the host routes to the frontend tier directly.
            ((gateway, published.target_port), frontend_host),
        ):
            with socket.create_connection(target, timeout=3) as conn:
                local_port = conn.getsockname()[1]
            seen = wait_seen(listeners, gateway, published.target_port, local_port)
            print(f"{target[0]}:{target[1]} reached gateway {gateway}, seen from {seen}")
            assert seen == seen_as


def test_build_completes_a_damaged_network(network: NetworkPlan) -> None:
    product2 = network.endpoint("product-2")
    registry = network.endpoint("registry-1")
    with IPRoute() as ipr:
        ipr.link("del", index=ipr.link_lookup(ifname=product2.veth)[0])  # takes eth0 along
        backend = ipr.link_lookup(ifname=network.bridge("backend").name)[0]
        ipr.addr(
            "del", index=backend, address=str(network.bridge("backend").address.ip), prefixlen=24
        )
    namespaces.remove(registry.namespace)  # the namespace (and its veth) vanish

    build(network)
    assert [r.describe() for r in isolation.check(network) if not r.ok] == []


def test_instances_have_no_ipv6_on_eth0(network: NetworkPlan) -> None:
    endpoint = network.endpoint("order-1")
    flag = Path("/proc/sys/net/ipv6/conf/eth0/disable_ipv6")
    host_flag = flag.read_text() if flag.exists() else None
    # Read through iproute2, independently of how we wrote it (a thread in the namespace).
    inside = subprocess.run(
        ["ip", "netns", "exec", endpoint.namespace, "cat", str(flag)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert inside.stdout.strip() == "1"
    with IPRoute(netns=endpoint.namespace, flags=0) as nsr:
        eth0 = nsr.link_lookup(ifname="eth0")[0]
        assert nsr.get_addr(family=socket.AF_INET6, index=eth0) == ()
    # The host's own eth0, if it has one, is untouched.
    assert (flag.read_text() if flag.exists() else None) == host_flag
