"""The docker mode's side of `shopnet trace`: containers' namespaces, Docker's bridges and veths.

Every container is a network namespace (/proc/PID/ns/net); the host's own
namespace holds the networks' bridges and Docker's iptables-nft chains (ip
filter: DOCKER-USER, DOCKER-ISOLATION-STAGE-1/2, DOCKER; ip nat: DOCKER for
the published port), which the trace sees like any nftables chain. The
topology's word is Docker's: a pair that shares a network connects even
without a flow (Docker isolates networks, not flows).
"""

from __future__ import annotations

import subprocess

from shopnet.errors import ConfigError
from shopnet.runtime import ports
from shopnet.topology.model import Topology, Wiring
from shopnet.trace import words
from shopnet.trace.nsenter import argv_in
from shopnet.trace.route import HOST, OUTSIDE, Place, TraceRoute
from shopnet_docker import links
from shopnet_docker.isolation import expectation
from shopnet_docker.stack import Container, Network


def _netns(container: Container) -> str:
    if not container.running or not container.pid:
        raise ConfigError(f"{container.instance} is not running")
    return f"/proc/{container.pid}/ns/net"


def places(containers: list[Container], networks: list[Network]) -> tuple[Place, dict[str, Place]]:
    """The host's place (bridges and veths labelled) and each running container's."""
    host: dict[str, str] = {
        n.bridge: f"Docker network {n.name} ({n.subnet}): its bridge" for n in networks
    }
    inside: dict[str, dict[str, str]] = {c.instance: {} for c in containers}
    for network in networks:
        for link in links.links(containers, network.tier):
            c = link.container
            host[link.host] = f"{c.instance}'s veth, host end: port of {network.bridge}"
            inside[c.instance][link.inside] = (
                f"{c.instance}'s {c.addresses.get(network.tier)} on {network.name}"
            )
    by_name = {
        c.instance: Place(c.instance, _netns(c), inside[c.instance])
        for c in containers
        if c.running and c.pid
    }
    return Place("host", None, host), by_name


def _source_address(netns: str | None, destination: str) -> str | None:
    out = subprocess.run(argv_in(netns, ["ip", "-o", "route", "get", destination]),
                         capture_output=True, text=True, check=False, timeout=10)  # fmt: skip
    words_ = out.stdout.split()
    return words_[words_.index("src") + 1] if "src" in words_ else None


def route(
    *,
    topology: Topology,
    containers: list[Container],
    networks: list[Network],
    wiring: Wiring | None,
    source: str,
    target: str,
    port: int | None,
    mode: str,
) -> TraceRoute:
    host, by_name = places(containers, networks)
    dst = next((c for c in containers if c.instance == target), None)
    if dst is None or target not in by_name:
        raise ConfigError(f"unknown or stopped instance {target!r}")
    service = topology.service(dst.service)
    home = dst.address_on(service.tier)
    port = port or service.port
    if source in (HOST, OUTSIDE):
        if source == OUTSIDE:
            words.check_outside_target(topology, dst.service)
            address = ports.host_address()
            connect = (address, topology.published_port)
            port = words.world_facing(topology)[1]
        else:
            address = _source_address(None, home) or "0.0.0.0"
            connect = (home, port)
        allowed, word = words.verdict(topology, source, dst.service, port)
        return TraceRoute(
            source=source, target=target, port=port, source_place=host, source_address=address,
            connect=connect, places=(host, by_name[target]), allowed=allowed,
            topology_word=word, mode=mode,
        )  # fmt: skip
    src = next((c for c in containers if c.instance == source), None)
    if src is None or source not in by_name:
        raise ConfigError(f"unknown or stopped instance {source!r} (or `host`, `outside`)")
    src_place = by_name[source]
    address = _source_address(src_place.netns, home) or next(iter(src.addresses.values()))
    expected, reason = expectation(topology, src.service, dst.service, wiring)
    allowed = "open" in expected and (
        port == service.port or topology.allows(src.service, dst.service, port)
    )
    _, word = words.verdict(topology, src.service, dst.service, port)
    notes = []
    if reason == "shared":
        word += (
            " — but Docker connects them: they share a network (it isolates networks, not flows)"
        )
    if reason == "blocked":
        notes.append(
            f"{src.instance} has no address on {dst.instance}'s network: the request leaves by "
            "its default route to the host, which would route it between Docker's bridges"
        )
    return TraceRoute(
        source=source, target=target, port=port, source_place=src_place, source_address=address,
        connect=(home, port), places=(src_place, host, by_name[target]), allowed=allowed,
        topology_word=word, notes=tuple(notes), mode=mode,
    )  # fmt: skip
