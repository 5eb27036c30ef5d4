"""The ladder's rows: one network primitive each, built on the row before it.

Each row builds what it needs (namespaces and simulated hosts of its own, so the rows
never share state: the DNAT row's nat table does not sit in the routed row's path) and
says where its probe server listens and from where the client connects. Addresses are
10.231.0.0/16 inside the ladder's own namespaces, invisible to the host.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from shopnet.bench.ladder import plumbing as p
from shopnet.bench.ladder.probes import IPERF_PORT, SOCKPERF_PORT, Endpoint
from shopnet.bench.ladder.swarm import SwarmLab
from shopnet.errors import DriverError


@dataclass(frozen=True, slots=True)
class Hop:
    """A built row: where the server runs and listens, and how the client reaches it."""

    server: Endpoint
    listen: str
    client: Endpoint
    connect: str
    sockperf_port: int = SOCKPERF_PORT
    iperf_port: int = IPERF_PORT
    helpers: tuple[int, ...] = ()
    """Processes in the path whose CPU counts too (docker-proxy)."""


@dataclass(frozen=True, slots=True)
class Row:
    name: str
    base: str | None
    what: str
    build: Callable[[], Hop] | None = field(default=None, compare=False)
    docker: bool = False
    full_only: bool = False
    skip_reason: str | None = None
    """Why the row is not measured (yet), when it is not."""


def _pair(host: str, left: str, right: str, subnet: int) -> None:
    """Two endpoint namespaces on one bridge of `host`, 10.231.<subnet>.2 and .3."""
    br = f"ladder-br{subnet}"
    p.bridge(host, br)
    for ns, last in ((left, 2), (right, 3)):
        p.add_ns(ns)
        port = f"ladder-{ns.removeprefix('ladder-')}0"
        p.veth(ns, "ladder-e0", host, port)
        p.enslave(host, port, br)
        p.address(ns, "ladder-e0", f"10.231.{subnet}.{last}/24")


def _leg(host: str, ns: str, subnet: int) -> str:
    """One endpoint namespace behind its own bridge of `host` (gateway .1); its address."""
    br = f"ladder-br{subnet}"
    p.bridge(host, br, f"10.231.{subnet}.1/24")
    p.add_ns(ns)
    port = f"ladder-{ns.removeprefix('ladder-')}0"
    p.veth(ns, "ladder-e0", host, port)
    p.enslave(host, port, br)
    p.address(ns, "ladder-e0", f"10.231.{subnet}.2/24")
    p.default_route(ns, f"10.231.{subnet}.1")
    return f"10.231.{subnet}.2"


def loopback() -> Hop:
    ns = p.add_ns("ladder-lo")
    return Hop(Endpoint.netns(ns), "127.0.0.1", Endpoint.netns(ns), "127.0.0.1")


def veth() -> Hop:
    a, b = p.add_ns("ladder-va"), p.add_ns("ladder-vb")
    p.veth(a, "ladder-e0", b, "ladder-e1")
    p.address(a, "ladder-e0", "10.231.0.1/24")
    p.address(b, "ladder-e1", "10.231.0.2/24")
    return Hop(Endpoint.netns(b), "10.231.0.2", Endpoint.netns(a), "10.231.0.2")


def bridge() -> Hop:
    host = p.add_host("ladder-h1")
    _pair(host, "ladder-ba", "ladder-bb", 1)
    return Hop(Endpoint.netns("ladder-bb"), "10.231.1.3", Endpoint.netns("ladder-ba"), "10.231.1.3")


def _routed(host_name: str, a: str, b: str, first: int) -> tuple[str, str]:
    host = p.add_host(host_name)
    _leg(host, a, first)
    return host, _leg(host, b, first + 1)


def routed() -> Hop:
    _, far = _routed("ladder-h2", "ladder-ra", "ladder-rb", 2)
    return Hop(Endpoint.netns("ladder-rb"), far, Endpoint.netns("ladder-ra"), far)


FILTER = """
table inet ladder {
  chain forward {
    type filter hook forward priority filter; policy drop;
    ct state established,related accept
    ct state invalid drop
    iifname "ladder-br%(a)d" oifname "ladder-br%(b)d" ip daddr %(far)s tcp dport { %(ports)s } accept
  }
}
"""
"""Shaped like the stack's forward chain (shopnet_netns): conntrack first, then one
allow rule per permitted tier crossing, default drop."""


def routed_nft() -> Hop:
    host, far = _routed("ladder-h4", "ladder-na", "ladder-nb", 4)
    ports = f"{SOCKPERF_PORT}, {IPERF_PORT}"
    p.nft(host, FILTER % {"a": 4, "b": 5, "far": far, "ports": ports})
    return Hop(Endpoint.netns("ladder-nb"), far, Endpoint.netns("ladder-na"), far)


def bridge_nft() -> Hop:
    """The bridge row with the stack's kind of forward chain on its simulated host: with
    br_netfilter (copied from the real host) a bridged frame crosses the inet forward hook
    and conntrack, as netns:attached's gateway→product and product→Redis legs do; the plain
    bridge row loads no rule, so its host never registers conntrack at all."""
    host = p.add_host("ladder-h10")
    _pair(host, "ladder-fa", "ladder-fb", 10)
    ports = f"{SOCKPERF_PORT}, {IPERF_PORT}"
    p.nft(host, FILTER % {"a": 10, "b": 10, "far": "10.231.10.3", "ports": ports})
    return Hop(
        Endpoint.netns("ladder-fb"), "10.231.10.3", Endpoint.netns("ladder-fa"), "10.231.10.3"
    )


DNAT_OFFSET = 10000


def host_dnat() -> Hop:
    host, far = _routed("ladder-h6", "ladder-da", "ladder-db", 6)
    ports = f"{SOCKPERF_PORT}, {IPERF_PORT}"
    nat = f"""
table ip ladder_nat {{
  chain prerouting {{
    type nat hook prerouting priority dstnat;
    ip daddr 10.231.6.1 tcp dport {SOCKPERF_PORT + DNAT_OFFSET} dnat to {far}:{SOCKPERF_PORT}
    ip daddr 10.231.6.1 tcp dport {IPERF_PORT + DNAT_OFFSET} dnat to {far}:{IPERF_PORT}
  }}
}}
"""
    p.nft(host, FILTER % {"a": 6, "b": 7, "far": far, "ports": ports} + nat)
    return Hop(
        Endpoint.netns("ladder-db"), far, Endpoint.netns("ladder-da"), "10.231.6.1",
        SOCKPERF_PORT + DNAT_OFFSET, IPERF_PORT + DNAT_OFFSET,
    )  # fmt: skip


def vxlan() -> Hop:
    """Two simulated hosts joined by a veth underlay; a VXLAN bridged on each side."""
    one, two = p.add_host("ladder-x1"), p.add_host("ladder-x2")
    p.veth(one, "ladder-u1", two, "ladder-u2")
    p.address(one, "ladder-u1", "10.231.8.1/24")
    p.address(two, "ladder-u2", "10.231.8.2/24")
    for host, ns, local, remote, last in (
        (one, "ladder-xa", "10.231.8.1", "10.231.8.2", 2),
        (two, "ladder-xb", "10.231.8.2", "10.231.8.1", 3),
    ):
        underlay = "ladder-u1" if host == one else "ladder-u2"
        p.vxlan(host, "ladder-vx", vni=231, local=local, remote=remote, dev=underlay)
        p.bridge(host, "ladder-vbr")
        p.enslave(host, "ladder-vx", "ladder-vbr")
        p.add_ns(ns)
        port = f"ladder-{ns.removeprefix('ladder-')}0"
        p.veth(ns, "ladder-e0", host, port, mtu=1450)  # room for VXLAN's 50 bytes
        p.enslave(host, port, "ladder-vbr")
        p.address(ns, "ladder-e0", f"10.231.9.{last}/24")
    return Hop(Endpoint.netns("ladder-xb"), "10.231.9.3", Endpoint.netns("ladder-xa"), "10.231.9.3")


@dataclass
class DockerLab:
    """Two containers on one Docker network; the second publishes the probe ports on the
    network's gateway address (Docker's DNAT) and on 127.0.0.1 (docker-proxy)."""

    network: str = "ladder-net"
    client: str = "ladder-c1"
    server: str = "ladder-c2"
    hops: dict[str, Hop] = field(default_factory=dict)

    def hop(self, row: str) -> Hop:
        if not self.hops:
            self._build()
        return self.hops[row]

    def _build(self) -> None:
        image = p.ensure_image()
        p.docker("network", "create", "--label", p.LABEL, self.network)
        gateway = p.docker(
            "network", "inspect", "-f", "{{(index .IPAM.Config 0).Gateway}}", self.network
        )
        common = ["run", "-d", "--label", p.LABEL, "--network", self.network,
                  "--cap-drop", "ALL", "--security-opt", "no-new-privileges", "--read-only"]  # fmt: skip
        p.docker(*common, "--name", self.client, image)
        publish = []
        for host_ip in (gateway, "127.0.0.1"):
            for port in (SOCKPERF_PORT, IPERF_PORT):
                publish += ["-p", f"{host_ip}::{port}"]
        p.docker(*common, "--name", self.server, *publish, image)
        networks = "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}"
        server_ip = p.docker("inspect", "-f", networks, self.server)
        server = Endpoint.container(self.server, p.container_pid(self.server))
        client = Endpoint.container(self.client, p.container_pid(self.client))

        def host_port(host_ip: str, port: int) -> int:
            out = p.docker("port", self.server, f"{port}/tcp")
            for line in out.splitlines():
                address, _, found = line.rpartition(":")
                if address == host_ip:
                    return int(found)
            raise DriverError(f"ladder: {self.server} has no port {port} on {host_ip}")

        self.hops["docker network"] = Hop(server, server_ip, client, server_ip)
        self.hops["published port (DNAT)"] = Hop(
            server, server_ip, Endpoint.host(), gateway,
            host_port(gateway, SOCKPERF_PORT), host_port(gateway, IPERF_PORT),
            helpers=_docker_proxies(gateway),
        )  # fmt: skip
        self.hops["docker-proxy"] = Hop(
            server, server_ip, Endpoint.host(), "127.0.0.1",
            host_port("127.0.0.1", SOCKPERF_PORT), host_port("127.0.0.1", IPERF_PORT),
            helpers=_docker_proxies("127.0.0.1"),
        )  # fmt: skip


def _docker_proxies(host_ip: str) -> tuple[int, ...]:
    """docker-proxy processes listening on host_ip for the ladder's server (by its ports)."""
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            argv = Path(entry.path, "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].endswith(b"docker-proxy") and host_ip.encode() in argv:
            container_ports = {
                argv[i + 1] for i, a in enumerate(argv[:-1]) if a == b"-container-port"
            }
            if container_ports & {str(SOCKPERF_PORT).encode(), str(IPERF_PORT).encode()}:
                found.append(int(entry.name))
    return tuple(found)


def swarm_overlay(lab: SwarmLab) -> Hop:
    server, address, client = lab.hop()
    return Hop(server, address, client, address)


def ladder_rows(docker_lab: DockerLab, swarm_lab: SwarmLab | None = None) -> list[Row]:
    swarm_lab = swarm_lab or SwarmLab()
    return [
        Row("loopback", None, "client and server in one namespace, over lo", loopback),
        Row("veth", "loopback", "a veth pair between two namespaces", veth),
        Row("bridge", "veth", "two namespaces on one Linux bridge", bridge),
        Row(
            "bridge + nftables",
            "bridge",
            "the same bridge, its frames through the stack's kind of forward chain "
            "(br_netfilter, conntrack on): what netns:attached's bridged legs cross",
            bridge_nft,
        ),
        Row("routed", "bridge", "two bridges, routed through a (simulated) host", routed),
        Row(
            "routed + nftables",
            "routed",
            "the same with a forward chain shaped like the stack's, conntrack on",
            routed_nft,
        ),
        Row(
            "host-port DNAT",
            "routed + nftables",
            "to the host's own address, DNAT (nftables) to the far namespace",
            host_dnat,
        ),
        Row(
            "docker network",
            "bridge",
            "two containers on one Docker network (probes entered with nsenter)",
            lambda: docker_lab.hop("docker network"),
            docker=True,
        ),
        Row(
            "published port (DNAT)",
            "docker network",
            "host to a port published on the network's gateway address: Docker's iptables DNAT",
            lambda: docker_lab.hop("published port (DNAT)"),
            docker=True,
        ),
        Row(
            "docker-proxy",
            "published port (DNAT)",
            "host to the port published on 127.0.0.1: Docker's userland proxy copies each byte",
            lambda: docker_lab.hop("docker-proxy"),
            docker=True,
        ),
        Row(
            "VXLAN",
            "routed",
            "two simulated hosts, a VXLAN overlay bridged on each over a veth underlay",
            vxlan,
        ),
        Row(
            "swarm overlay",
            # VXLAN, not docker network: the step this row takes is the encapsulation
            # between two engines (the VXLAN row's, over a veth underlay), and Docker's
            # per-overlay namespace and bridge on each side add to it; docker network's
            # containers share one bridge and never leave the host's stack.
            "VXLAN",
            "two containers on an attachable Swarm overlay, one on each of two engines "
            "(this host's and swarm mode's second dockerd): VXLAN plus Docker's overlay plumbing",
            lambda: swarm_overlay(swarm_lab),
            docker=True,
            full_only=True,
        ),
    ]
