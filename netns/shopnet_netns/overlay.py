"""Building several simulated hosts (hostplan.py): underlay, host namespaces, VXLAN.

On the real host: the underlay bridge (created marked, like a tier bridge), one
veth per host (`<veth prefix>host<k>` ↔ `up0` in the host's namespace, made in
one request so no crash strands it) and a /32 route per instance via its host.
Inside each host: forwarding and br_netfilter on, IPv6 off, every tier's bridge
with the host's address and fixed MAC, one VXLAN device per tier (VNI per tier,
UDP 4789 over `up0`, learning off, MTU 1450) with its static forwarding entries,
a default route via the real host, and the veths of the instances placed there.

Everything inside a host namespace goes with it, so teardown needs nothing new:
host namespaces carry the prefix, the underlay bridge and host veths a marker.
Every step is idempotent; a build killed anywhere is completed by the next.
"""

from __future__ import annotations

import errno
import logging

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

from shopnet.errors import DriverError
from shopnet_netns import links, namespaces
from shopnet_netns.hostplan import UPLINK, VXLAN_PORT, HostPlan, VxlanPlan
from shopnet_netns.plan import NetworkPlan

log = logging.getLogger("shopnet.netns.overlay")

HOST_SYSCTLS = {
    "net.ipv4.ip_forward": "1",
    # Per namespace since Linux 5.3: bridged IPv4 between hosts meets the firewall too.
    "net.bridge.bridge-nf-call-iptables": "1",
    "net.ipv6.conf.all.disable_ipv6": "1",
    "net.ipv6.conf.default.disable_ipv6": "1",
}


def ensure(plan: NetworkPlan) -> None:
    """Create or complete the underlay, every host and every instance's links."""
    underlay = plan.underlay
    assert underlay is not None
    try:
        with IPRoute() as ipr:
            under = links.ensure_bridge(
                ipr, plan.names, underlay.bridge, underlay.marker, underlay.address, 0
            )
            # DNAT of 127.0.0.1 leaves through the underlay: see links.ensure_links.
            links.set_device_sysctl("ipv4", underlay.bridge, "route_localnet", "1")
            for host in plan.hosts:
                _ensure_host(ipr, plan, host, under)
            for address, via in underlay.routes:
                ipr.route("replace", dst=f"{address}/32", gateway=str(via))
    except (NetlinkError, OSError) as exc:
        raise DriverError(f"building the hosts: {exc}") from None


def _ensure_host(ipr: IPRoute, plan: NetworkPlan, host: HostPlan, under: int) -> None:
    assert plan.underlay is not None
    namespaces.create(host.namespace)
    namespaces.write_sysctls(host.namespace, HOST_SYSCTLS)
    with IPRoute(netns=host.namespace, flags=0) as hsr:
        hsr.link("set", index=links.lookup(hsr, "lo"), state="up")
        outer, uplink = links.ensure_pair(ipr, hsr, host.namespace, host.veth, UPLINK)
        ipr.link("set", index=outer, ifalias=host.marker)
        # A bridge port needs no address: no IPv6 link-local chatter on the underlay.
        links.set_device_sysctl("ipv6", host.veth, "disable_ipv6", "1")
        ipr.link("set", index=outer, master=under, state="up")
        links.ensure_address(hsr, uplink, str(host.uplink.ip), host.uplink.network.prefixlen)
        hsr.link("set", index=uplink, state="up")
        hsr.route("replace", dst="0.0.0.0/0", gateway=str(plan.underlay.address.ip))
        bridges: dict[str, int] = {}
        for bridge in host.bridges:
            idx = links.lookup(hsr, bridge.name)
            if idx is None:
                hsr.link("add", ifname=bridge.name, kind="bridge")
                idx = links.created(hsr, bridge.name)
            hsr.link("set", index=idx, address=bridge.mac, mtu=bridge.mtu)
            links.ensure_address(hsr, idx, str(bridge.address.ip), bridge.address.network.prefixlen)
            hsr.link("set", index=idx, state="up")
            bridges[bridge.name] = idx
        for vxlan in host.vxlans:
            _ensure_vxlan(hsr, vxlan, uplink, bridges[vxlan.tier.bridge])
        for endpoint in plan.endpoints:
            if endpoint.host == host.name:
                links.ensure_endpoint(hsr, endpoint, bridges)
    log.info("host built", extra={"host": host.name, "namespace": host.namespace})


def _ensure_vxlan(hsr: IPRoute, vxlan: VxlanPlan, uplink: int, bridge: int) -> None:
    idx = links.lookup(hsr, vxlan.name)
    if idx is None:
        hsr.link(
            "add",
            ifname=vxlan.name,
            kind="vxlan",
            vxlan_id=vxlan.vni,
            vxlan_local=str(vxlan.local),
            vxlan_port=VXLAN_PORT,
            vxlan_learning=0,
            vxlan_link=uplink,
            mtu=vxlan.mtu,
        )
        idx = links.lookup(hsr, vxlan.name)
    for entry in vxlan.fdb:
        try:  # append: one all-zero entry per remote host adds a flood target
            hsr.fdb("append", ifindex=idx, lladdr=entry.mac, dst=str(entry.remote))
        except NetlinkError as exc:
            if exc.code != errno.EEXIST:
                raise
    hsr.link("set", index=idx, master=bridge, state="up")
