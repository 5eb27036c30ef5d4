"""Several simulated hosts (`--hosts N`) as data: placement, addresses, VNIs, forwarding
entries, MTU, routes and firewall — without touching the host (no root needed)."""

from __future__ import annotations

import dataclasses
import struct
import tomllib
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path

import pytest

from shopnet.errors import ConfigError
from shopnet.hostnet.pcapsummary import summarize
from shopnet.runtime import variant
from shopnet.topology import default_topology
from shopnet.topology.load import parse
from shopnet.topology.model import Wiring
from shopnet_netns import NetworkPlan, firewall, hostplan, isolation
from shopnet_netns.hostplan import FLOOD
from tests.netns.helpers import REPO

UNDERLAY = IPv4Network("10.199.0.0/24")


@pytest.fixture
def two_hosts() -> NetworkPlan:
    return NetworkPlan.from_topology(default_topology(), {"product": 2}, hosts=2, underlay=UNDERLAY)


def test_instances_are_placed_round_robin_in_start_order(two_hosts: NetworkPlan) -> None:
    placed = {e.name: e.host for e in two_hosts.endpoints}
    assert placed == {
        "postgres-1": "host1",
        "redis-1": "host2",
        "registry-1": "host1",
        "product-1": "host2",
        "product-2": "host1",
        "order-1": "host2",
        "gateway-1": "host1",
    }
    three = NetworkPlan.from_topology(default_topology(), {"product": 3}, hosts=3)
    assert {e.host for e in three.instances_of("product")} == {"host1", "host2", "host3"}


def test_hosts_underlay_and_routers(two_hosts: NetworkPlan) -> None:
    host1, host2 = two_hosts.hosts
    assert (host1.namespace, host1.veth, str(host1.uplink)) == (
        "shopnet-host1",
        "shopnet-host1",
        "10.199.0.1/24",
    )
    assert str(host2.uplink) == "10.199.0.2/24"
    under = two_hosts.underlay
    assert under is not None
    assert (under.bridge, str(under.address), under.marker) == (
        "shopnet-under",
        "10.199.0.254/24",
        "shopnet:bridge:underlay",
    )
    # Each host routes its tiers from an address of its own; host 1 keeps the single host's.
    assert [str(b.address) for b in host1.bridges] == [
        "172.20.0.1/24",
        "172.21.0.1/24",
        "172.22.0.1/24",
    ]
    assert [str(b.address) for b in host2.bridges] == [
        "172.20.0.2/24",
        "172.21.0.2/24",
        "172.22.0.2/24",
    ]
    assert host2.bridge("backend").mac == "02:53:ac:15:00:02"
    # An instance routes via the host it runs on; the database tier still has no way out,
    # only back to the real host's underlay address (administration).
    assert [str(r.gateway) for r in two_hosts.endpoint("product-1").routes] == ["172.21.0.2"]
    assert [str(r.gateway) for r in two_hosts.endpoint("product-2").routes] == ["172.21.0.1"]
    redis = two_hosts.endpoint("redis-1").routes
    assert [(str(r.destination), str(r.gateway)) for r in redis] == [
        ("172.21.0.0/24", "172.22.0.2"),
        ("10.199.0.254/32", "172.22.0.2"),
    ]
    # The real host reaches each instance through the host it runs on.
    routes = {str(a): str(via) for a, via in under.routes}
    assert routes["172.21.0.20"] == "10.199.0.2"  # product-1 on host 2
    assert routes["172.20.0.10"] == "10.199.0.1"  # gateway-1 on host 1
    assert len(routes) == len(two_hosts.endpoints)


def test_one_vni_per_tier_and_static_forwarding_entries(two_hosts: NetworkPlan) -> None:
    host1, host2 = two_hosts.hosts
    assert [(v.tier.name, v.name, v.vni) for v in host1.vxlans] == [
        ("frontend", "vx101", 101),
        ("backend", "vx102", 102),
        ("database", "vx103", 103),
    ]
    assert [v.vni for v in host2.vxlans] == [101, 102, 103]
    backend1 = host1.vxlans[1]
    assert backend1.local == IPv4Address("10.199.0.1")
    # Broadcasts go to every other host; each MAC living on host 2 goes to host 2 only.
    assert [(e.mac, str(e.remote)) for e in backend1.fdb] == [
        (FLOOD, "10.199.0.2"),
        ("02:53:ac:15:00:14", "10.199.0.2"),  # product-1 (172.21.0.20)
        ("02:53:ac:15:00:28", "10.199.0.2"),  # order-1
        ("02:53:ac:15:00:02", "10.199.0.2"),  # host 2's backend bridge
    ]
    assert two_hosts.endpoint("product-1").mac == "02:53:ac:15:00:14"
    three = NetworkPlan.from_topology(default_topology(), hosts=3, underlay=UNDERLAY)
    floods = [str(e.remote) for e in three.hosts[1].vxlans[0].fdb if e.mac == FLOOD]
    assert floods == ["10.199.0.1", "10.199.0.3"]  # head-end replication to both others


def test_mtu_leaves_room_for_the_encapsulation(two_hosts: NetworkPlan) -> None:
    assert hostplan.UNDERLAY_MTU - hostplan.TIER_MTU == 50  # Ethernet + IPv4 + UDP + VXLAN
    assert {e.mtu for e in two_hosts.endpoints} == {1450}
    assert {v.mtu for h in two_hosts.hosts for v in h.vxlans} == {1450}
    assert {b.mtu for h in two_hosts.hosts for b in h.bridges} == {1450}
    single = NetworkPlan.from_topology(default_topology(), {"product": 2})
    assert {(e.mtu, e.mac, e.host) for e in single.endpoints} == {(None, None, None)}
    assert single.hosts == () and single.underlay is None


def test_firewalls_dnat_and_admin_across_hosts(two_hosts: NetworkPlan) -> None:
    outer = firewall.render(two_hosts)
    assert 'set bridges {\n    type ifname; elements = { "shopnet-under" }' in outer
    assert "dnat ip to 172.20.0.10:3000" in outer
    assert 'oifname "shopnet-under" ip saddr 127.0.0.0/8 masquerade' in outer
    inner = firewall.render_host(two_hosts, two_hosts.hosts[1])
    assert "dnat" not in inner
    assert "ip saddr 10.199.0.254 ct state new counter accept" in inner
    assert '"br-frontend", "br-backend", "br-database"' in inner
    # The same flows on both sides of the underlay; a host counts what its own instances
    # open, and marks what arrives from the other (the dashboard adds the hosts up).
    flows = [line for line in outer.splitlines() if 'comment "' in line and "->" in line]
    comments = [line.split('comment "')[1].rstrip('"') for line in flows]
    assert comments and all(
        f'comment "{c}"' in inner or f"{c}{firewall.ARRIVING}" in inner for c in comments
    )

    def redis_rule(source: str, suffix: str) -> str:
        return (
            f"ip saddr {{ {source} }} ip daddr {{ 172.22.0.11 }} tcp dport 6379 ct state new "
            f'counter accept comment "product -> redis:6379{suffix}"'
        )

    host1 = firewall.render_host(two_hosts, two_hosts.hosts[0])
    # product-1 (172.21.0.20) runs on host 2, product-2 (.21) on host 1.
    assert redis_rule("172.21.0.20", "") in inner
    assert redis_rule("172.21.0.21", firewall.ARRIVING) in inner
    assert redis_rule("172.21.0.21", "") in host1
    assert redis_rule("172.21.0.20", firewall.ARRIVING) in host1
    host_probes = [p for p in isolation.probes(two_hosts) if p.source == isolation.HOST]
    assert {p.seen_as for p in host_probes} == {IPv4Address("10.199.0.254")}


def test_what_several_hosts_refuse() -> None:
    topology = default_topology()
    with pytest.raises(ConfigError, match="routed"):
        NetworkPlan.from_topology(topology, hosts=2, wiring=Wiring.ATTACHED)
    with pytest.raises(ConfigError, match="overlaps tier"):
        NetworkPlan.from_topology(topology, hosts=2, underlay=IPv4Network("172.21.0.0/16"))
    assert hostplan.choose_underlay([IPv4Network("10.199.0.0/23")]) == IPv4Network("10.199.2.0/24")
    with pytest.raises(ConfigError, match="netns"):
        variant.resolve(topology, "docker", None, None, 2)
    with pytest.raises(ConfigError, match="2 to 8"):
        variant.resolve(topology, "netns", None, None, 9)
    chosen = variant.parse("netns:hosts2", topology)
    assert (chosen.variant.hosts, chosen.label) == (2, "netns:routed:hosts2")
    assert variant.parse("netns", topology).variant.hosts == 1


def test_pcap_summary_opens_vxlan(tmp_path: Path) -> None:
    def ipv4(src: str, dst: str, protocol: int, payload: bytes) -> bytes:
        header = struct.pack(
            "!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), 0, 0, 64, protocol, 0,
            IPv4Address(src).packed, IPv4Address(dst).packed,
        )  # fmt: skip
        return header + payload

    def ethernet(packet: bytes) -> bytes:
        return b"\x02" * 6 + b"\x04" * 6 + b"\x08\x00" + packet

    tcp = struct.pack("!HHIIBBHHH", 40000, 6379, 0, 0, 0x50, 0x18, 0, 0, 0)
    inner = ethernet(ipv4("172.21.0.20", "172.22.0.11", 6, tcp + b"PING"))
    vxlan = struct.pack("!BBHI", 0x08, 0, 0, 103 << 8)  # flags, VNI 103
    udp = struct.pack("!HHHH", 51000, 4789, 8 + len(vxlan) + len(inner), 0)
    outer = ethernet(ipv4("10.199.0.2", "10.199.0.1", 17, udp + vxlan + inner))
    data = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
    data += struct.pack("<IIII", 100, 0, len(outer), len(outer)) + outer
    path = tmp_path / "underlay.pcap"
    path.write_bytes(data)

    summary = summarize(path)
    assert list(summary.tunnelled) == [103]
    labels = {"10.199.0.2": "host2", "172.22.0.11": "redis-1", "vni 103": "database"}
    text = summary.format(labels=labels)
    assert "udp  10.199.0.2 (host2):51000 -> 10.199.0.1:4789" in text
    assert "inside VXLAN VNI 103 (database): 1 packets" in text
    assert "tcp  172.21.0.20:40000 -> 172.22.0.11 (redis-1):6379  1 pkts" in text


def test_the_topology_may_pin_instances_to_hosts() -> None:
    text = (REPO / "services/shopnet/topology/default.toml").read_text()
    pinned = parse(
        tomllib.loads(text + '\n[placement]\n"gateway-1" = 2\n"postgres-1" = 2\n'), source="t"
    )
    assert pinned.placement == (("gateway-1", 2), ("postgres-1", 2))
    plan = NetworkPlan.from_topology(pinned, {"product": 2}, hosts=2, underlay=UNDERLAY)
    placed = {e.name: e.host for e in plan.endpoints}
    assert (placed["gateway-1"], placed["postgres-1"]) == ("host2", "host2")
    # The others still take turns, starting with host 1.
    assert [placed[n] for n in ("redis-1", "registry-1", "product-1", "product-2")] == [
        "host1",
        "host2",
        "host1",
        "host2",
    ]
    assert plan.underlay is not None
    assert {str(via) for a, via in plan.underlay.routes if str(a) == "172.20.0.10"} == {
        "10.199.0.2"
    }
    with pytest.raises(ConfigError, match="on host 3, but there are 2"):
        NetworkPlan.from_topology(
            dataclasses.replace(pinned, placement=(("gateway-1", 3),)), hosts=2
        )
    for bad in ('"nobody-1" = 1', '"gateway-1" = 0', '"gateway" = 1'):
        with pytest.raises(ConfigError, match="placement"):
            parse(tomllib.loads(text + f"\n[placement]\n{bad}\n"), source="t")
