"""Planting, fixing and undoing the docker labs' faults, on containers of our project only.

Docker owns its rules and networks, so the docker labs touch only what shopnet owns
there: the stack's Redis ACL file (our secrets; `up` writes it again), the veths of
our containers (found from each container's pid and MAC, shopnet_docker.links) and
tbf qdiscs with `shopnet netem`'s handle on them. `shopnet down` removes the
containers, and with them both ends of every veth and whatever sits on them; no
host setting is changed.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, TypeVar

from shopnet.errors import DriverError, StateError
from shopnet.hostnet import tools
from shopnet.lab import cache_faults
from shopnet.runtime.base import Driver

if TYPE_CHECKING:
    from shopnet_docker.driver import ContainerDriver
    from shopnet_docker.links import Link

DEFAULT_MTU = 1500
OFFLOADS = ("tx-tcp-segmentation", "tx-generic-segmentation")
CLONE_NEWNET = 0x40000000
T = TypeVar("T")


def _containers(driver: Driver) -> ContainerDriver:
    from shopnet_docker.driver import ContainerDriver

    if not isinstance(driver, ContainerDriver):
        raise DriverError(f"this lab's faults are for docker, not {driver.mode} mode")
    return driver


# -- the cache's credentials broken ---------------------------------------------------


def restart_redis(driver: Driver, timeout: float = 60.0) -> None:
    """`docker restart` the Redis container (it reads its ACL file at start), then wait
    until it passes its health check again."""
    docker = _containers(driver)
    container = docker.stack.container("redis-1")
    docker.docker.run("restart", container.name, what="restarting redis-1", timeout=timeout)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        row = next((r for r in driver.status(usage=False) if r.instance == "redis-1"), None)
        if row is not None and row.health == "ready":
            return
        time.sleep(0.5)
    raise StateError(f"redis-1 did not come back within {timeout:.0f} s (see `shopnet status`)")


def break_cache_credentials(driver: Driver) -> None:
    cache_faults.break_credentials(driver, restart_redis)


def fix_cache_credentials(driver: Driver) -> None:
    cache_faults.fix_credentials(driver, restart_redis)


def restore_cache_credentials(driver: Driver) -> None:
    cache_faults.restore_credentials(driver, restart_redis)


# -- an MTU mismatch on one container's leg -----------------------------------------


def _link(driver: Driver, instance: str, tier: str) -> Link:
    from shopnet_docker import links

    docker = _containers(driver)
    found = [
        x for x in links.links(docker.stack.containers(), tier) if x.container.instance == instance
    ]
    if not found:
        raise StateError(f"{instance} has no running leg on tier {tier}")
    return found[0]


def host_veth(driver: Driver, instance: str, tier: str) -> str:
    """The host end of `instance`'s veth on `tier` (Docker names it `veth…`)."""
    return _link(driver, instance, tier).host


def set_mtu(driver: Driver, instance: str, tier: str, mtu: int) -> None:
    """The MTU of the host end of `instance`'s veth on `tier` (its eth keeps its own)."""
    veth = host_veth(driver, instance, tier)
    tools.run(["ip", "link", "set", "dev", veth, "mtu", str(mtu)], what=f"setting {veth}'s MTU")


def set_offloads(driver: Driver, instance: str, tier: str, *, on: bool) -> None:
    """Segmentation offloads of the container's interface on `tier` (`ethtool -K … tso gso`):
    off, it sends real full-size frames; on (the veth default), an oversized GSO packet
    passes a veth unchecked and hides the mismatch."""
    from pyroute2.ethtool import Ethtool

    link = _link(driver, instance, tier)

    def switch() -> None:
        ethtool = Ethtool()
        try:
            features = ethtool.get_features(link.inside)
            for name in OFFLOADS:
                if name in features.features:
                    features.features[name].enable = on
            ethtool.set_features(link.inside, features)
        finally:
            ethtool.close()

    from shopnet_netns import namespaces

    try:
        namespaces.run_in_pid(link.pid, switch)
    except OSError as exc:
        raise DriverError(f"switching {instance}'s offloads: {exc}") from None


def plant_mtu(driver: Driver, instance: str, tier: str, mtu: int) -> None:
    set_offloads(driver, instance, tier, on=False)
    set_mtu(driver, instance, tier, mtu)


def undo_mtu(driver: Driver, instance: str, tier: str) -> None:
    set_mtu(driver, instance, tier, DEFAULT_MTU)
    set_offloads(driver, instance, tier, on=True)
