"""The network derived from the default topology, without touching the host (no root needed)."""

from __future__ import annotations

import dataclasses
import struct
import subprocess
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path

import pytest

from shopnet.errors import ConfigError
from shopnet.hostnet.pcapsummary import summarize
from shopnet.topology import WORLD, Flow, default_topology
from shopnet_netns import NetworkPlan, firewall, iptables, isolation, listeners
from shopnet_netns.isolation import Expect
from shopnet_netns.names import Names, Role
from shopnet_netns.plan import DEFAULT_ROUTE, Route
from tests.netns.helpers import needs_root


@pytest.fixture
def default_plan() -> NetworkPlan:
    return NetworkPlan.from_topology(default_topology(), {"product": 2})


def test_default_names_and_addresses(default_plan: NetworkPlan) -> None:
    product2 = default_plan.endpoint("product-2")
    assert product2.namespace == "shopnet-product-2"
    assert product2.veth == "sn-product-2"
    assert product2.bridge == "br-backend"
    assert str(product2.address) == "172.21.0.21/24"
    assert product2.marker == "shopnet:veth:product-2"
    assert [b.name for b in default_plan.bridges] == ["br-frontend", "br-backend", "br-database"]
    assert [str(b.address) for b in default_plan.bridges] == [
        "172.20.0.1/24",
        "172.21.0.1/24",
        "172.22.0.1/24",
    ]
    assert sorted(e.name for e in default_plan.endpoints) == sorted(
        ["gateway-1", "registry-1", "product-1", "product-2", "order-1", "postgres-1", "redis-1"]
    )


def test_internal_tier_routes_only_to_its_peers(default_plan: NetworkPlan) -> None:
    backend_via_db = Route(IPv4Network("172.21.0.0/24"), IPv4Address("172.22.0.1"))
    assert default_plan.endpoint("postgres-1").routes == (backend_via_db,)
    assert default_plan.endpoint("redis-1").routes == (backend_via_db,)
    assert default_plan.endpoint("gateway-1").routes == (
        Route(DEFAULT_ROUTE, IPv4Address("172.20.0.1")),
    )
    assert default_plan.endpoint("order-1").routes == (
        Route(DEFAULT_ROUTE, IPv4Address("172.21.0.1")),
    )


def test_published_port_reaches_the_gateway(default_plan: NetworkPlan) -> None:
    published = default_plan.published
    assert published is not None
    assert (published.port, published.targets, published.target_port, published.bridge) == (
        8080,
        (IPv4Address("172.20.0.10"),),
        3000,
        "br-frontend",
    )


def test_veth_names_must_fit_ifnamsiz() -> None:
    names = Names("shopnet", "sn-")
    assert names.veth("registry-10") == "sn-registry-10"
    with pytest.raises(ConfigError, match="15"):
        names.veth("abcdefghij-10")
    with pytest.raises(ConfigError, match="prefix"):
        Names("Shop-Net")


def test_markers_and_scratch_names_are_recognised() -> None:
    names = Names("shopnet", "sn-")
    assert names.owns(names.marker(Role.BRIDGE, "frontend"))
    assert not names.owns("shopnetx:bridge:frontend")
    assert not names.owns("shopnet")
    assert not names.owns(None)
    assert names.is_scratch_link(names.scratch_link(2))
    # An instance veth never looks like a scratch bridge, whatever the service is called.
    assert not names.is_scratch_link(names.veth("new1-1"))


def test_scale_outside_the_topology_is_refused() -> None:
    with pytest.raises(ConfigError, match="1 to 10"):
        NetworkPlan.from_topology(default_topology(), {"product": 11})
    with pytest.raises(ConfigError, match="unknown service"):
        NetworkPlan.from_topology(default_topology(), {"nope": 1})


def test_one_published_port_cannot_serve_two_services() -> None:
    topology = default_topology()
    flows = (*topology.flows, Flow(WORLD, "registry", 8500))
    with pytest.raises(ConfigError, match="several world-facing"):
        NetworkPlan.from_topology(dataclasses.replace(topology, flows=flows))


def test_ruleset_names_every_flow_by_instance_address(default_plan: NetworkPlan) -> None:
    rules = firewall.render(default_plan)
    assert (
        "ip saddr { 172.21.0.20, 172.21.0.21 } ip daddr { 172.22.0.10 } tcp dport 5432 "
        "ct state new counter accept" in rules
    )
    assert "iifname != @bridges ip daddr { 172.20.0.10 } tcp dport 3000 ct state new" in rules
    assert "fib daddr type local tcp dport 8080 dnat ip to 172.20.0.10:3000" in rules
    assert 'oifname "br-frontend" ip saddr 127.0.0.0/8 masquerade' in rules
    assert rules.count("accept comment") == len(default_topology().flows)


@pytest.mark.root
@needs_root
def test_ruleset_is_valid_nftables(default_plan: NetworkPlan) -> None:
    # `nft -c` parses and checks against the kernel without changing anything.
    out = subprocess.run(
        ["nft", "-c", "-f", "-"],
        input=firewall.render(default_plan),
        text=True,
        capture_output=True,
    )
    assert out.returncode == 0, out.stderr


def test_matrix_is_generated_from_the_flows(default_plan: NetworkPlan) -> None:
    probes = {
        (p.source, p.target, p.port): p.expect for p in isolation.probes(default_plan, host_port=1)
    }
    assert probes[("gateway-1", "postgres-1", 5432)] is Expect.BLOCKED
    assert probes[("product-2", "redis-1", 6379)] is Expect.CONNECT
    assert probes[("order-1", "product-2", 3001)] is Expect.CONNECT
    assert probes[("gateway-1", "product-1", 3002)] is Expect.BLOCKED  # right host, wrong port
    assert probes[("product-1", "product-2", 3001)] is Expect.BLOCKED  # no product → product flow
    assert probes[("redis-1", "gateway-1", 3000)] is Expect.BLOCKED
    assert probes[("postgres-1", "outside", 80)] is Expect.NO_ROUTE
    assert probes[("registry-1", "host", 1)] is Expect.BLOCKED
    assert probes[("host", "postgres-1", 5432)] is Expect.CONNECT
    assert ("gateway-1", "outside", 80) not in probes  # only internal tiers are probed outward
    ports = len(listeners.ports_that_matter(default_topology()))
    assert ports == 6
    # 7 instances: host row, 7·6 pairs × 6 ports, 7 → host, 2 database → outside.
    assert len(probes) == 7 + 7 * 6 * ports + 7 + 2


def test_our_iptables_rules_are_found_by_comment_only() -> None:
    dump = "\n".join(
        [
            "*filter",
            ":DOCKER-USER - [0:0]",
            "-A DOCKER-USER -i br-backend -m comment --comment shopnet -j ACCEPT",
            "-A DOCKER-USER -i br-backend -m comment --comment shopnetx -j ACCEPT",
            '-A DOCKER-USER -m comment --comment "shopnet is great" -j RETURN',
            "-A DOCKER-USER -j RETURN",
            "COMMIT",
            "*nat",
            "-A POSTROUTING -o br-x -m comment --comment shopnet -j MASQUERADE",
            "COMMIT",
        ]
    )
    assert iptables.our_rules(Names("shopnet"), dump) == [
        ("filter", "-A DOCKER-USER -i br-backend -m comment --comment shopnet -j ACCEPT"),
        ("nat", "-A POSTROUTING -o br-x -m comment --comment shopnet -j MASQUERADE"),
    ]


def test_pcap_summary_counts_flows_and_talkers(tmp_path: Path) -> None:
    def frame(src: str, dst: str, sport: int, dport: int, payload: bytes) -> bytes:
        ip = struct.pack(
            "!BBHHHBBH4s4s",
            0x45,
            0,
            20 + 20 + len(payload),
            0,
            0,
            64,
            6,
            0,
            IPv4Address(src).packed,
            IPv4Address(dst).packed,
        )
        tcp = struct.pack("!HHIIBBHHH", sport, dport, 0, 0, 0x50, 0x18, 0, 0, 0)
        return b"\x02" * 6 + b"\x04" * 6 + b"\x08\x00" + ip + tcp + payload

    packets = [
        frame("10.0.0.2", "10.0.0.3", 40000, 8500, b"x" * 100),
        frame("10.0.0.3", "10.0.0.2", 8500, 40000, b"y" * 10),
        frame("10.0.0.2", "10.0.0.3", 40000, 8500, b"z" * 100),
    ]
    data = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
    for i, packet in enumerate(packets):
        data += struct.pack("<IIII", 100 + i, 0, len(packet), len(packet)) + packet
    path = tmp_path / "x.pcap"
    path.write_bytes(data)

    summary = summarize(path)
    assert (summary.packets, summary.protocols["tcp"], summary.seconds) == (3, 3, 2.0)
    assert summary.sent_bytes.most_common(1)[0][0] == "10.0.0.2"
    text = summary.format(labels={"10.0.0.3": "registry-1"})
    assert "tcp  10.0.0.2:40000 -> 10.0.0.3 (registry-1):8500  2 pkts" in text
