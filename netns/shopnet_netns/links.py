"""Bridges, namespaces and veth pairs, through pyroute2 (netlink); every step idempotent.

Per tier: a bridge holding the host's `.1` (the tier's router). Per instance: a
namespace and a veth pair created with its peer already inside the namespace
as `eth0` — one netlink request, so no crash can strand a pair between creating
it and moving it (clabernetes PR #287). Inside: lo up, the instance address,
the routes of the plan, and IPv6 off on eth0: our firewall speaks IPv4, and
link-local IPv6 would be a path around it. An attached instance (plan.py) gets
one more pair per leg, made the same way (`eth1` … inside, marked on the host
side like eth0's, so teardown finds every leg by its marker).

Running `ensure_links` twice changes nothing; after a build killed at any point
it completes what exists and creates what is missing.
"""

from __future__ import annotations

import errno
import logging
from ipaddress import IPv4Interface
from pathlib import Path
from typing import Any

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

from shopnet.errors import DriverError, StateError
from shopnet_netns import namespaces
from shopnet_netns.names import Names
from shopnet_netns.plan import Endpoint, NetworkPlan

log = logging.getLogger("shopnet.netns.links")


def device_sysctl(family: str, ifname: str, key: str) -> Path:
    """/proc/sys/net/<family>/conf/<ifname>/<key> (device names may contain dots)."""
    return Path("/proc/sys/net", family, "conf", ifname, key)


def set_device_sysctl(family: str, ifname: str, key: str, value: str) -> None:
    target = device_sysctl(family, ifname, key)
    if target.parent.exists():  # no ipv6 directory when IPv6 is disabled at boot
        target.write_text(value)


def ensure_links(plan: NetworkPlan) -> None:
    """Create or complete every bridge, namespace and veth of `plan`."""
    try:
        with IPRoute() as ipr:
            bridges = {
                bridge.name: ensure_bridge(
                    ipr, plan.names, bridge.name, bridge.marker, bridge.address, index
                )
                for index, bridge in enumerate(plan.bridges)
            }
            if plan.published is not None:
                # DNAT of 127.0.0.1 out of this bridge: the kernel drops loopback
                # sources on a non-loopback device unless route_localnet is set.
                set_device_sysctl("ipv4", plan.published.bridge, "route_localnet", "1")
            for endpoint in plan.endpoints:
                ensure_endpoint(ipr, endpoint, bridges)
    except (NetlinkError, OSError) as exc:
        raise DriverError(f"building links: {exc}") from None


def lookup(ipr: IPRoute, ifname: str) -> int | None:
    found = ipr.link_lookup(ifname=ifname)
    return found[0] if found else None


def created(ipr: IPRoute, ifname: str) -> int:
    """The index of `ifname`, just added (a DriverError if it is already gone)."""
    idx = lookup(ipr, ifname)
    if idx is None:
        raise DriverError(f"interface {ifname} is gone right after it was added")
    return idx


def _kind(link: Any) -> str | None:
    info = link.get("IFLA_LINKINFO")
    return info.get("IFLA_INFO_KIND") if info is not None else None


def ensure_bridge(
    ipr: IPRoute, names: Names, name: str, marker: str, address: IPv4Interface, index: int
) -> int:
    """A marked bridge `name` on the host holding `address`, up; its index."""
    idx = lookup(ipr, name)
    if idx is not None:
        link = ipr.get_links(idx)[0]
        if not names.owns(link.get("IFLA_IFALIAS")) or _kind(link) != "bridge":
            raise StateError(
                f"interface {name} exists and is not ours; remove it or rename "
                "the tier's bridge in the topology"
            )
    else:
        # Created under a scratch name that carries our prefix, marked, then renamed,
        # so it is claimable by teardown at every instant (see Names.scratch_link).
        scratch = names.scratch_link(index)
        if (stale := lookup(ipr, scratch)) is not None:
            ipr.link("del", index=stale)
        ipr.link("add", ifname=scratch, kind="bridge")
        idx = created(ipr, scratch)
        ipr.link("set", index=idx, ifalias=marker)
        ipr.link("set", index=idx, ifname=name)
        log.info("bridge created", extra={"bridge": name})
    set_device_sysctl("ipv6", name, "disable_ipv6", "1")
    ensure_address(ipr, idx, str(address.ip), address.network.prefixlen)
    ipr.link("set", index=idx, state="up")
    return idx


def ensure_address(ipr: IPRoute, idx: int, address: str, prefixlen: int) -> None:
    try:
        ipr.addr("add", index=idx, address=address, prefixlen=prefixlen)
    except NetlinkError as exc:
        if exc.code != errno.EEXIST:
            raise


def ensure_endpoint(ipr: IPRoute, endpoint: Endpoint, bridges: dict[str, int]) -> None:
    """An instance's namespace and veths; `ipr` speaks to where its bridges are (the host,
    or a simulated host's namespace)."""
    namespaces.create(endpoint.namespace)
    with IPRoute(netns=endpoint.namespace, flags=0) as nsr:
        lo = lookup(nsr, "lo")
        nsr.link("set", index=lo, state="up")
        pairs = [(endpoint.veth, "eth0", endpoint.bridge, endpoint.address, endpoint.marker)]
        pairs += [
            (leg.veth, leg.ifname, leg.bridge, leg.address, leg.marker) for leg in endpoint.legs
        ]
        for veth, ifname, bridge, address, marker in pairs:
            host, peer = ensure_pair(ipr, nsr, endpoint.namespace, veth, ifname)
            if ifname == "eth0":
                _fit_for_overlay(ipr, nsr, endpoint, host, peer)
            # Before the peer goes up, so it never gets a link-local IPv6 address.
            namespaces.write_sysctls(
                endpoint.namespace,
                {
                    "net.ipv6.conf.default.disable_ipv6": "1",
                    f"net.ipv6.conf.{ifname}.disable_ipv6": "1",
                },
            )
            ipr.link("set", index=host, ifalias=marker)
            set_device_sysctl("ipv6", veth, "disable_ipv6", "1")
            ipr.link("set", index=host, master=bridges[bridge], state="up")
            ensure_address(nsr, peer, str(address.ip), address.network.prefixlen)
            nsr.link("set", index=peer, state="up")
        for route in endpoint.routes:
            nsr.route(
                "replace",
                dst=str(route.destination),
                gateway=str(route.gateway),
            )


def _fit_for_overlay(ipr: IPRoute, nsr: IPRoute, endpoint: Endpoint, host: int, peer: int) -> None:
    """With several hosts: eth0's fixed MAC (named by the VXLAN forwarding entries) and
    the tier MTU on both ends (a 1500-byte frame would be dropped at the VXLAN port)."""
    if endpoint.mtu is not None:
        ipr.link("set", index=host, mtu=endpoint.mtu)
        nsr.link("set", index=peer, mtu=endpoint.mtu)
    if endpoint.mac is not None:
        current = nsr.get_links(peer)[0].get("IFLA_ADDRESS")
        if current != endpoint.mac:
            nsr.link("set", index=peer, state="down")  # a veth takes a new MAC only when down
            nsr.link("set", index=peer, address=endpoint.mac)


def ensure_pair(
    ipr: IPRoute, nsr: IPRoute, namespace: str, veth: str, ifname: str
) -> tuple[int, int]:
    """The veth pair `veth` (host) ↔ `ifname` (in the namespace): (host index, peer index)."""
    host = lookup(ipr, veth)
    peer = lookup(nsr, ifname)
    if host is None or peer is None:
        # Half a pair (or a pair broken by a recreated namespace): start over.
        if host is not None:
            ipr.link("del", index=host)
        if peer is not None:
            nsr.link("del", index=peer)
        ipr.link(
            "add",
            ifname=veth,
            kind="veth",
            peer={"ifname": ifname, "net_ns_fd": str(namespaces.path(namespace))},
        )
        host = lookup(ipr, veth)
        peer = lookup(nsr, ifname)
        if host is None or peer is None:
            raise DriverError(f"veth {veth} into {namespace} was not created")
    return host, peer


def _owned(ipr: IPRoute, names: Names) -> list[Any]:
    return [
        link
        for link in ipr.get_links()
        if names.owns(link.get("IFLA_IFALIAS")) or names.is_scratch_link(link.get("IFLA_IFNAME"))
    ]


def owned_links(names: Names) -> list[str]:
    """Host links that are ours: marked in IFLA_IFALIAS, or a bridge under its scratch name."""
    with IPRoute() as ipr:
        return sorted(link.get("IFLA_IFNAME") for link in _owned(ipr, names))


def remove_links(names: Names) -> tuple[list[str], list[str]]:
    """Delete every host link of ours (deleting a veth end deletes its peer). (removed, problems)"""
    removed: list[str] = []
    problems: list[str] = []
    with IPRoute() as ipr:
        # Ports before bridges, so no bridge is deleted with a port still attached.
        for link in sorted(_owned(ipr, names), key=lambda link: _kind(link) == "bridge"):
            ifname = link.get("IFLA_IFNAME")
            try:
                ipr.link("del", index=link["index"])
                removed.append(f"link {ifname}")
            except NetlinkError as exc:
                if exc.code != errno.ENODEV:  # else gone with its peer meanwhile
                    problems.append(f"link {ifname}: {exc}")
    return removed, problems


def remove_namespace_links(namespace: str) -> None:
    """Delete the links inside one namespace: the veth's host end goes with its peer.

    Catches a pair whose host end never got its marker (build killed between
    the two requests); deleting the namespace alone would free it only once the
    kernel's asynchronous namespace cleanup runs.
    """
    if not namespaces.exists(namespace):
        return
    with IPRoute(netns=namespace, flags=0) as nsr:
        for link in nsr.get_links():
            if _kind(link) == "veth":
                try:
                    nsr.link("del", index=link["index"])
                except NetlinkError as exc:
                    if exc.code != errno.ENODEV:
                        raise
