"""The testbed the netns tests build: the default topology, moved out of everyone's way.

Same tiers, services, flows and scale rules as default.toml — the isolation
matrix is generated from them — but with its own prefix, bridge names, veth
prefix, subnets and a free published port, so these tests never collide with a
real `shopnet up --mode netns` or a Docker stack (which use 172.20-22.0.0/24)
on the same machine. Set SHOPNET_NETNS_TEST_DEFAULT=1 to build the literal
default topology instead (prefix shopnet, 172.20.0.0/24…, port 8080).
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
from ipaddress import IPv4Network
from pathlib import Path

import pytest

from shopnet.topology import Topology, default_topology
from shopnet.topology.model import Wiring
from shopnet_netns import NetworkPlan
from shopnet_netns import sysctl as host_sysctl
from tests.support.servers import free_port

REPO = Path(__file__).resolve().parents[2]
PREFIX = "sntest"
VETH_PREFIX = "st-"
SUBNETS = {"frontend": "10.213.0.0/24", "backend": "10.213.1.0/24", "database": "10.213.2.0/24"}
SCALE = {"product": 2}
GLOBAL_SYSCTLS = (host_sysctl.IP_FORWARD, host_sysctl.BRIDGE_NF_IPTABLES)

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (namespaces, firewall)")
root_only = [pytest.mark.root, needs_root]
"""`pytestmark = root_only` in modules that build networks."""


def literal_default() -> bool:
    return os.environ.get("SHOPNET_NETNS_TEST_DEFAULT") == "1"


def testbed_topology(published_port: int | None = None) -> Topology:
    topology = default_topology()
    if literal_default():
        return topology
    tiers = tuple(
        dataclasses.replace(
            tier, bridge=f"stbr-{tier.name}"[:15], subnet=IPv4Network(SUBNETS[tier.name])
        )
        for tier in topology.tiers
    )
    return dataclasses.replace(
        topology, prefix=PREFIX, tiers=tiers, published_port=published_port or free_port()
    )


def testbed_toml(published_port: int) -> str:
    """testbed_topology as a topology file, for end-to-end runs of the `shopnet` command."""
    text = (REPO / "services/shopnet/topology/default.toml").read_text()
    default = default_topology()
    text = text.replace('prefix = "shopnet"', f'prefix = "{PREFIX}"', 1)
    text = text.replace("published_port = 8080", f"published_port = {published_port}", 1)
    for tier in default.tiers:
        text = text.replace(f'"{tier.bridge}"', f'"{f"stbr-{tier.name}"[:15]}"')
        text = text.replace(f'"{tier.subnet}"', f'"{SUBNETS[tier.name]}"')
    return text


def testbed_plan(published_port: int | None = None, *, wiring: Wiring | None = None) -> NetworkPlan:
    if literal_default():
        return NetworkPlan.from_topology(default_topology(), SCALE, wiring=wiring)
    return NetworkPlan.from_topology(
        testbed_topology(published_port), SCALE, veth_prefix=VETH_PREFIX, wiring=wiring
    )


def iptables_save() -> str:
    """Every rule of the default backend, without comments and counters."""
    out = subprocess.run(["iptables-save"], capture_output=True, text=True, check=True).stdout
    return "\n".join(
        line.split(" [", 1)[0] if line.startswith(":") else line
        for line in out.splitlines()
        if not line.startswith("#")
    )


def without(dump: str, comment: str) -> str:
    return "\n".join(line for line in dump.splitlines() if f"--comment {comment}" not in line)


def leftovers(plan: NetworkPlan) -> list[str]:
    """What of ours the system's tools (ip, nft, iptables-save, /sys/fs/cgroup) still show."""
    names = plan.names
    found: list[str] = []
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True)
    found += [
        f"netns {line.split()[0]}"
        for line in netns.stdout.splitlines()
        if line.startswith(f"{names.prefix}-")
    ]
    links = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True, check=True)
    ours = {b.name for b in plan.bridges} | {e.veth for e in plan.endpoints}
    for line in links.stdout.splitlines():
        ifname = line.split(":")[1].strip().split("@")[0]
        if ifname in ours or ifname.startswith(names.veth_prefix):
            found.append(f"link {ifname}")
    tables = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True, check=True)
    found += [f"nft {line}" for line in tables.stdout.splitlines() if names.nft_table in line]
    rules = subprocess.run(["iptables-save"], capture_output=True, text=True, check=True)
    found += [line for line in rules.stdout.splitlines() if f"--comment {names.comment}" in line]
    found += [str(p) for p in Path("/sys/fs/cgroup").glob(f"*/{names.cgroup}")]
    return found
