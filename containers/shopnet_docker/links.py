"""A docker tier's links: its bridge, and both ends of each container's veth on it.

capture needs the bridge (`snd-<tier>`); netem needs the veth pairs, which
Docker does not name: shopnet.hostnet.links finds them from each container's
pid and its MAC address on the tier (as `docker inspect` reports it).

netem semantics match the netns mode (see shopnet.hostnet.netem).
"""

from __future__ import annotations

from shopnet.hostnet.links import Endpoint, Link, clear, find, netem, root_qdiscs
from shopnet_docker.stack import Container

__all__ = ["Link", "clear", "links", "netem", "root_qdiscs"]


def links(containers: list[Container], tier: str) -> list[Link]:
    """The veth of every running container attached to `tier`."""
    endpoints = [
        Endpoint(c.name, c.pid, c.macs[tier])
        for c in containers
        if tier in c.macs and c.running and c.pid
    ]
    return find(endpoints, tier)
