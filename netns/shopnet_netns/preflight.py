"""Is this machine ready for the netns testbed? Checked before anything is created.

- not root → PreflightError
- a missing binary → PreflightError naming its Debian package
- a tier subnet overlapping a host route or address (read with pyroute2) or a
  Docker network (`docker network inspect`), an interface that has a tier
  bridge's name but not our marker, the published port already listened on →
  PreflightError, one line per culprit
- our own objects already there → StateError, "leftovers of a crashed run (run
  `shopnet down`)" — unless the caller is completing its own build (`allow_ours`)
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import subprocess
from ipaddress import IPv4Network, ip_network
from pathlib import Path

from pyroute2 import IPRoute

from shopnet.errors import PreflightError, StateError
from shopnet.hostnet import tools
from shopnet.runtime import ports
from shopnet_netns.inventory import discover
from shopnet_netns.plan import NetworkPlan

log = logging.getLogger("shopnet.netns.preflight")

DOCKER_TIMEOUT = 10.0


def check(plan: NetworkPlan, *, allow_ours: bool = False) -> None:
    """Raise PreflightError/StateError when `build(plan)` cannot or should not run."""
    if os.geteuid() != 0:
        raise PreflightError(
            "netns mode needs root (namespaces, bridges and firewall rules are privileged); "
            "run it with sudo, or use --mode local"
        )
    problems = [tools.missing_message(b) for b in tools.REQUIRED if shutil.which(b) is None]
    problems += conflicts(plan)
    if plan.published is not None and ports.listening(plan.published.port):
        problems.append(
            f"port {plan.published.port} is in use on this host (a listening socket): the "
            "published port would hide it; stop that program or change published_port"
        )
    if problems:
        raise PreflightError("; ".join(problems))
    if not allow_ours:
        found = discover(plan.names)
        if not found.empty:
            raise StateError(
                f"leftovers of a crashed run ({found.brief()}): run `shopnet down` first"
            )


def conflicts(plan: NetworkPlan) -> list[str]:
    """Foreign routes, addresses, interfaces or Docker networks in the way of our tiers."""
    problems: list[str] = []
    names = plan.names
    bridges = {b.name for b in plan.bridges}
    with IPRoute() as ipr:
        links = {link["index"]: link for link in ipr.get_links()}

        def ours(index: int | None) -> bool:
            link = links.get(index or -1)
            return link is not None and names.owns(link.get("IFLA_IFALIAS"))

        def ifname(index: int | None) -> str:
            link = links.get(index or -1)
            return link.get("IFLA_IFNAME") if link is not None else "?"

        for link in links.values():
            if link.get("IFLA_IFNAME") in bridges and not names.owns(link.get("IFLA_IFALIAS")):
                problems.append(
                    f"an interface named {link.get('IFLA_IFNAME')} exists and is not ours "
                    "(rename the tier's bridge in the topology or remove it)"
                )
        routes = ipr.get_routes(family=socket.AF_INET, table=254)
        addresses = ipr.get_addr(family=socket.AF_INET)

    # One message per tier and culprit: a /24 route and its address say the same thing.
    found: dict[tuple[str, str], str] = {}
    networks = docker_networks()
    segments = [(f"tier {b.tier.name}", b.tier.subnet) for b in plan.bridges]
    if plan.underlay is not None:
        segments.append(("the underlay", plan.underlay.subnet))
    for tier, subnet in segments:
        # Docker networks first: their bridge's route then adds nothing new.
        for name, docker_subnet, docker_bridge in networks:
            if docker_subnet.overlaps(subnet):
                found.setdefault(
                    (tier, docker_bridge),
                    f"{tier} ({subnet}) overlaps Docker network {name} ({docker_subnet}); "
                    f"remove it (`docker network rm {name}`) or change the tier's subnet",
                )
        for route in routes:
            if route["dst_len"] == 0:  # the default route overlaps everything
                continue
            dst = IPv4Network(f"{route.get('RTA_DST')}/{route['dst_len']}", strict=False)
            oif = route.get("RTA_OIF")
            if dst.overlaps(subnet) and not ours(oif):
                found.setdefault(
                    (tier, ifname(oif)),
                    f"{tier} ({subnet}) overlaps the host route {dst} dev {ifname(oif)}; "
                    "remove that route or change the tier's subnet in the topology",
                )
        for addr in addresses:
            address = addr.get("IFA_ADDRESS")
            network = ip_network(address) if address else None
            if (
                isinstance(network, IPv4Network)
                and network.subnet_of(subnet)
                and not ours(addr["index"])
            ):
                found.setdefault(
                    (tier, ifname(addr["index"])),
                    f"{tier} ({subnet}) holds {address}/{addr['prefixlen']}, already "
                    f"assigned to {ifname(addr['index'])}",
                )
    return problems + list(found.values())


def taken_networks(plan: NetworkPlan) -> list[IPv4Network]:
    """What a new underlay must not overlap: the tiers, host routes and addresses that are
    not ours, Docker networks."""
    taken = [b.tier.subnet for b in plan.bridges]
    with IPRoute() as ipr:
        owned = {
            link["index"] for link in ipr.get_links() if plan.names.owns(link.get("IFLA_IFALIAS"))
        }
        for route in ipr.get_routes(family=socket.AF_INET, table=254):
            if route["dst_len"] and route.get("RTA_OIF") not in owned:
                taken.append(
                    IPv4Network(f"{route.get('RTA_DST')}/{route['dst_len']}", strict=False)
                )
        for addr in ipr.get_addr(family=socket.AF_INET):
            if addr["index"] not in owned:
                taken.append(
                    IPv4Network(f"{addr.get('IFA_ADDRESS')}/{addr['prefixlen']}", strict=False)
                )
    taken += [subnet for _, subnet, _ in docker_networks()]
    return taken


def docker_binary() -> str | None:
    """Debian's client first (a newer one earlier on PATH may not match the engine)."""
    configured = os.environ.get("SHOPNET_DOCKER")
    if configured:
        return configured
    if Path("/usr/bin/docker").exists():
        return "/usr/bin/docker"
    return shutil.which("docker")


def docker_networks() -> list[tuple[str, IPv4Network, str]]:
    """(name, subnet, bridge) of every Docker network; empty when Docker is absent or stopped."""
    docker = docker_binary()
    if docker is None:
        return []
    try:
        ids = subprocess.run(
            [docker, "network", "ls", "-q"],
            capture_output=True,
            text=True,
            timeout=DOCKER_TIMEOUT,
            check=False,
        )
        if ids.returncode != 0 or not ids.stdout.split():
            return []
        out = subprocess.run(
            [docker, "network", "inspect", *ids.stdout.split()],
            capture_output=True,
            text=True,
            timeout=DOCKER_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        log.warning("cannot list Docker networks: %s", exc)
        return []
    if out.returncode != 0:
        return []
    found = []
    for network in json.loads(out.stdout or "[]"):
        for config in (network.get("IPAM") or {}).get("Config") or []:
            try:
                subnet = ip_network(config.get("Subnet", ""))
            except ValueError:
                continue
            if isinstance(subnet, IPv4Network):
                options = network.get("Options") or {}
                bridge = options.get("com.docker.network.bridge.name") or (
                    f"br-{network.get('Id', '')[:12]}"
                )
                found.append((network.get("Name", "?"), subnet, bridge))
    return found
