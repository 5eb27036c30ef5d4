"""Planting, fixing and undoing the labs' faults on a netns stack, with the system's tools.

Everything here changes only objects of ours: rules in our nftables table (an added
rule's comment starts with TAG), routes and MTUs inside our namespaces and on our
veths, tbf qdiscs on our veths, Redis's ACL file in the stack's secrets. `shopnet
down` removes the table, namespaces and veths, so it removes every planted fault;
`up` writes the ACL file again from the secrets.

`undo_*` restores what the plan says (the lab's `reset`); `fix_*` is the reference
solution, written as the commands a student would type (docs/labs.md shows them).
"""

from __future__ import annotations

import json
import os
import signal
import time
from ipaddress import IPv4Network
from typing import TYPE_CHECKING

from shopnet.errors import DriverError, StateError
from shopnet.hostnet import tools
from shopnet.lab import cache_faults, shaping
from shopnet.runtime.base import Driver
from shopnet.runtime.confine import Confinement

if TYPE_CHECKING:
    from shopnet_netns.hostplan import HostPlan
    from shopnet_netns.plan import NetworkPlan

TAG = "shopnet lab"
"""Comment prefix of every rule a lab adds (inside our own table)."""
FORWARD_CHAIN = "testbed"
NAT_CHAINS = ("prerouting", "output")
DEFAULT_MTU = 1500
OFFLOADS = ("tx-tcp-segmentation", "tx-generic-segmentation")
UPLINK_OFFLOADS = (
    *OFFLOADS, "tx-udp_tnl-segmentation", "tx-udp_tnl-csum-segmentation",
)  # fmt: skip


def _plan(driver: Driver) -> NetworkPlan:
    return driver.network_plan()  # type: ignore[attr-defined, no-any-return]


def _table(driver: Driver) -> str:
    return _plan(driver).names.nft_table


def _rules(table: str, chain: str) -> list[dict[str, object]]:
    out = tools.run(
        ["nft", "-j", "-a", "list", "chain", "inet", table, chain],
        what=f"listing nftables chain {chain}",
    )
    items = json.loads(out.stdout).get("nftables", [])
    return [item["rule"] for item in items if "rule" in item]


def _rule_handle(table: str, chain: str, comment: str) -> int | None:
    for rule in _rules(table, chain):
        if rule.get("comment") == comment:
            handle = rule["handle"]
            return handle if isinstance(handle, int) else None
    return None


def _delete_rule(table: str, chain: str, handle: int) -> None:
    tools.run(
        ["nft", "delete", "rule", "inet", table, chain, "handle", str(handle)],
        what=f"deleting a rule of chain {chain}",
    )


def reload_firewall(driver: Driver) -> None:
    """Our table as the plan renders it, in one transaction (drops what a lab changed)."""
    from shopnet_netns import firewall

    firewall.apply(_plan(driver))


# -- a flow removed from the firewall -------------------------------------------


def remove_flow(driver: Driver, comment: str) -> None:
    table = _table(driver)
    handle = _rule_handle(table, FORWARD_CHAIN, comment)
    if handle is None:
        raise StateError(f"no rule {comment!r} in chain {FORWARD_CHAIN} (was it removed already?)")
    _delete_rule(table, FORWARD_CHAIN, handle)


def forget_connections(driver: Driver, source: str, target: str) -> int:
    """Delete the conntrack entries of `source` → `target` connections, so pooled keep-alive
    connections meet the firewall again (as after a reboot); how many were deleted."""
    from pyroute2 import Conntrack

    plan = _plan(driver)
    sources = {str(a) for e in plan.instances_of(source) for a in e.addresses}
    targets = {str(e.address.ip) for e in plan.instances_of(target)}
    deleted = 0
    with Conntrack() as conntrack:
        for entry in list(conntrack.dump_entries()):
            orig = entry.tuple_orig
            if orig.saddr in sources and orig.daddr in targets:
                conntrack.delete(entry)
                deleted += 1
    return deleted


def fix_flow(driver: Driver, source: str, target: str) -> None:
    """`nft insert rule … ip saddr S ip daddr T tcp dport P ct state new accept`."""
    plan = _plan(driver)
    flow = next(f for f in plan.topology.flows if f.source == source and f.target == target)
    saddr = ", ".join(str(a) for e in plan.instances_of(source) for a in e.addresses)
    daddr = ", ".join(str(e.address.ip) for e in plan.instances_of(target))
    tools.run(
        [
            "nft", "insert", "rule", "inet", plan.names.nft_table, FORWARD_CHAIN,
            "ip", "saddr", f"{{ {saddr} }}", "ip", "daddr", f"{{ {daddr} }}",
            "tcp", "dport", str(flow.port), "ct", "state", "new", "accept",
        ],
        what="adding the flow back",
    )  # fmt: skip


# -- a hole: a flow that must be denied -----------------------------------------


def open_hole(driver: Driver, source: str, target: str, port: int) -> None:
    plan = _plan(driver)
    saddr = plan.instances_of(source)[0].address.ip
    daddr = plan.instances_of(target)[0].address.ip
    tools.run(
        [
            "nft", "insert", "rule", "inet", plan.names.nft_table, FORWARD_CHAIN,
            "ip", "saddr", str(saddr), "ip", "daddr", str(daddr), "tcp", "dport", str(port),
            "ct", "state", "new", "accept", "comment", f'"{TAG}: debugging access"',
        ],
        what="opening a hole",
    )  # fmt: skip


def close_hole(driver: Driver) -> None:
    """What a student does: find the rule that is not the topology's, delete it by handle."""
    table = _table(driver)
    for rule in _rules(table, FORWARD_CHAIN):
        if str(rule.get("comment", "")).startswith(TAG):
            _delete_rule(table, FORWARD_CHAIN, int(rule["handle"]))  # type: ignore[call-overload]


# -- the DNAT rule gone ----------------------------------------------------------


def remove_dnat(driver: Driver) -> None:
    table = _table(driver)
    for chain in NAT_CHAINS:
        for rule in _rules(table, chain):
            _delete_rule(table, chain, int(rule["handle"]))  # type: ignore[call-overload]


def fix_dnat(driver: Driver) -> None:
    """`nft add rule inet shopnet <chain> fib daddr type local tcp dport 8080 dnat ip to …`."""
    plan = _plan(driver)
    pub = plan.published
    if pub is None or len(pub.targets) != 1:
        raise StateError("the DNAT fix expects exactly one world-facing instance")
    for chain in NAT_CHAINS:
        tools.run(
            [
                "nft", "add", "rule", "inet", plan.names.nft_table, chain,
                "fib", "daddr", "type", "local", "tcp", "dport", str(pub.port),
                "dnat", "ip", "to", f"{pub.targets[0]}:{pub.target_port}",
            ],
            what=f"adding the DNAT rule to chain {chain}",
        )  # fmt: skip


# -- a route gone ----------------------------------------------------------------


def _namespace(driver: Driver, instance: str) -> str:
    return str(_plan(driver).endpoint(instance).namespace)


def _route_to(driver: Driver, instance: str, tier: str) -> tuple[IPv4Network, str]:
    plan = _plan(driver)
    subnet = plan.bridge(tier).tier.subnet
    route = next(r for r in plan.endpoint(instance).routes if r.destination == subnet)
    return subnet, str(route.gateway)


def remove_route(driver: Driver, instance: str, tier: str) -> None:
    subnet, _ = _route_to(driver, instance, tier)
    tools.run(
        ["ip", "-n", _namespace(driver, instance), "route", "del", str(subnet)],
        what=f"removing {instance}'s route to {subnet}",
    )


def add_route(driver: Driver, instance: str, tier: str) -> None:
    """`ip -n <namespace> route replace <subnet> via <router>` (fix and undo alike)."""
    subnet, via = _route_to(driver, instance, tier)
    tools.run(
        ["ip", "-n", _namespace(driver, instance), "route", "replace", str(subnet), "via", via],
        what=f"adding {instance}'s route to {subnet}",
    )


# -- an MTU mismatch on one leg ------------------------------------------------------


def set_mtu(driver: Driver, instance: str, mtu: int) -> None:
    """The MTU of `instance`'s veth end on the host (its eth0 keeps its own)."""
    veth = _plan(driver).endpoint(instance).veth
    tools.run(["ip", "link", "set", "dev", veth, "mtu", str(mtu)], what=f"setting {veth}'s MTU")


def set_offloads(driver: Driver, instance: str, *, on: bool) -> None:
    """Segmentation offloads of the instance's eth0 (ethtool -K eth0 tso/gso, through
    pyroute2): off, it sends real full-size frames, as on a wire; on (the veth default),
    the kernel hands an oversized GSO packet along a veth unchecked, hiding any mismatch."""
    _switch_offloads(_namespace(driver, instance), "eth0", OFFLOADS, on=on)


def _switch_offloads(namespace: str, ifname: str, names: tuple[str, ...], *, on: bool) -> None:
    from pyroute2.ethtool import Ethtool

    from shopnet_netns import namespaces

    def switch() -> None:
        ethtool = Ethtool()
        try:
            features = ethtool.get_features(ifname)
            for name in names:
                if name in features.features:
                    features.features[name].enable = on
            ethtool.set_features(ifname, features)
        finally:
            ethtool.close()

    try:
        namespaces.run_in(namespace, switch)
    except OSError as exc:
        raise DriverError(f"switching {ifname}'s offloads in {namespace}: {exc}") from None


# -- an underlay MTU below what the VXLAN overlay needs (--hosts N) -------------------


def _host_of(driver: Driver, instance: str) -> HostPlan:
    plan = _plan(driver)
    host = plan.endpoint(instance).host
    found = next((h for h in plan.hosts if h.name == host), None)
    if found is None:
        raise StateError(f"{instance} runs on no simulated host (is this a --hosts N stack?)")
    return found


def set_underlay_mtu(driver: Driver, instance: str, mtu: int) -> None:
    """The MTU of the underlay port (on the real host) of the host `instance` runs on."""
    veth = _host_of(driver, instance).veth
    tools.run(["ip", "link", "set", "dev", veth, "mtu", str(mtu)], what=f"setting {veth}'s MTU")


def set_uplink_offloads(driver: Driver, instance: str, *, on: bool) -> None:
    """Segmentation offloads of that host's uplink: off, encapsulated frames leave it at
    their real size (on, a VXLAN GSO packet passes the veth unchecked)."""
    from shopnet_netns.hostplan import UPLINK

    host = _host_of(driver, instance)
    _switch_offloads(host.namespace, UPLINK, UPLINK_OFFLOADS, on=on)


# -- a rate limit on one tier's links (any mode with TierShaping: netns, docker) ---------

limit_rate = shaping.limit_rate
clear_rate = shaping.clear_rate


# -- the cache's credentials broken --------------------------------------------------


def _confinement(driver: Driver) -> Confinement:
    return Confinement(driver.layout)


def _restart(driver: Driver, instance: str, timeout: float = 30.0) -> None:
    """SIGKILL its process: the supervisor starts it again (re-reading its files)."""
    row = next((r for r in driver.status(usage=False) if r.instance == instance), None)
    if row is None or not row.pid:
        raise StateError(f"{instance} is not running")
    try:
        os.kill(row.pid, signal.SIGKILL)
    except OSError as exc:
        raise DriverError(f"restarting {instance}: {exc}") from None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        time.sleep(0.3)
        now = next((r for r in driver.status(usage=False) if r.instance == instance), None)
        if now is not None and now.pid and now.pid != row.pid and now.health == "ready":
            return
    raise StateError(f"{instance} did not come back within {timeout:.0f} s (see `shopnet status`)")


def _restart_redis(driver: Driver) -> None:
    _restart(driver, "redis-1")


def break_cache_credentials(driver: Driver) -> None:
    """Redis's ACL file with another password for the product user, and Redis restarted."""
    cache_faults.break_credentials(driver, _restart_redis)


def fix_cache_credentials(driver: Driver) -> None:
    """A student's fix: the product user's hash made that of its password; Redis restarted."""
    cache_faults.fix_credentials(driver, _restart_redis)


def restore_cache_credentials(driver: Driver) -> None:
    """The ACL file written again from the stack's secrets, and Redis restarted."""
    topology = driver.topology
    _confinement(driver).redis_aclfile(topology.service("redis"), topology)
    _restart_redis(driver)
