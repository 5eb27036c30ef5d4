"""Before a docker stack exists: host ports, subnets, the database volume, the images.

Everything here fails with a PreflightError (or ConfigError) a user can act on,
before any container or network is created.
"""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network
from pathlib import Path

from shopnet.errors import ConfigError, PreflightError
from shopnet.runtime import ports
from shopnet.runtime.progress import Progress
from shopnet.runtime.state import Layout
from shopnet.topology.model import Topology, Wiring
from shopnet_docker import images as image_build
from shopnet_docker import inventory, names, settings
from shopnet_docker.compose import bridge_name, published_service
from shopnet_docker.compose import networks as compose_networks
from shopnet_docker.engine import Docker
from shopnet_docker.stack import Stack


def check_ports(topology: Topology) -> None:
    gateway = published_service(topology)
    for port, what in (
        (topology.published_port, "published port"),
        (settings.compat_port(topology), f"second published port ({names.VAR_COMPAT_PORT})"),
    ):
        if port:
            ports.require_free(port, what=f"the {gateway.name}'s {what}")


def check_subnets(topology: Topology, project: str, wiring: Wiring | None = None) -> None:
    created = compose_networks(topology, wiring)
    ours = {bridge_name(project, t) for t in created}
    netns_bridges = {t.bridge for t in topology.tiers}
    for ifname, network in host_routes():
        if ifname in ours or network.prefixlen == 0:
            continue
        for tier in created:
            if tier.subnet.overlaps(network):
                hint = (
                    " (the netns stack's bridge: `shopnet down --mode netns`)"
                    if ifname in netns_bridges
                    else ""
                )
                raise PreflightError(
                    f"tier {tier.name}'s subnet {tier.subnet} overlaps {network} on "
                    f"{ifname}{hint}; remove that network or use another topology"
                )


def check_volume(stack: Stack, layout: Layout) -> None:
    """A database volume whose password we do not have would refuse every service."""
    if stack.volume_exists(names.DB_VOLUME) and not (layout.data / "db-password").exists():
        raise PreflightError(
            f"the database volume {stack.project}_{names.DB_VOLUME} exists, but its password "
            f"is not in {layout.data} (another --state-dir?); use that state "
            f"directory, or `shopnet down --mode docker --volumes` to start afresh"
        )


def ensure_images(docker: Docker, progress: Progress, *, build: bool) -> None:
    """Build the images when missing, stale or asked to; preloaded ones must just be there."""
    source = settings.image_source()
    if source == "preloaded":
        if build:
            raise ConfigError(f"--build: {settings.IMAGES_ENV}=preloaded runs images as they are")
        chosen = settings.images()
        for tag in (chosen.service, chosen.redis, chosen.postgres):
            if inventory.image_labels(docker, tag) is None:
                raise PreflightError(
                    f"image {tag} is not loaded ({settings.IMAGES_ENV}=preloaded builds "
                    "nothing); load it first (e.g. shopnet-load-images)"
                )
        progress.info("using the preloaded images")
        return
    offline = source == "offline"
    if not build:
        stale = image_build.outdated(docker, offline=offline)
        if not stale:
            progress.info("images are up to date")
            return
        progress.info(f"building images: {', '.join(stale)} missing or out of date")
    report = image_build.build_images(progress, offline=offline, docker=docker)
    for line in report.lines():
        progress.info(f"  {line}")


def host_routes() -> list[tuple[str, IPv4Network]]:
    """(interface, destination network) of the host's IPv4 routes (main table)."""
    routes = []
    try:
        rows = Path("/proc/net/route").read_text().splitlines()[1:]
    except OSError:
        return []
    for row in rows:
        fields = row.split()
        if len(fields) < 8:
            continue
        destination = IPv4Address(int(fields[1], 16).to_bytes(4, "little"))
        mask = IPv4Address(int(fields[7], 16).to_bytes(4, "little"))
        routes.append((fields[0], IPv4Network(f"{destination}/{mask}", strict=False)))
    return routes
