"""A docker tier's links: its bridge, and both ends of each container's veth on it.

capture needs the bridge (`snd-<tier>`); netem needs the veth pairs, which
Docker does not name: shopnet.hostnet.links finds them from each container's
pid and its MAC address on the tier (as `docker inspect` reports it).

netem semantics match the netns mode (see shopnet.hostnet.netem).
"""

from __future__ import annotations

from dataclasses import dataclass

from shopnet.hostnet import links as hostlinks
from shopnet.hostnet.links import clear, netem, ratelimit, root_qdiscs
from shopnet_docker.stack import Container

__all__ = ["Link", "clear", "links", "netem", "ratelimit", "root_qdiscs"]


@dataclass(frozen=True, slots=True)
class Link(hostlinks.Link):
    """One container's veth on a tier."""

    container: Container


def links(containers: list[Container], tier: str) -> list[Link]:
    """The veth of every running container attached to `tier`."""
    running = {c.name: c for c in containers if tier in c.macs and c.running and c.pid}
    endpoints = [hostlinks.Endpoint(c.name, c.pid, c.macs[tier]) for c in running.values()]
    return [
        Link(found.name, found.pid, found.inside, found.host, running[found.name])
        for found in hostlinks.find(endpoints, tier)
    ]
