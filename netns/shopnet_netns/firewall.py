"""The testbed's firewall: one nftables table of our own, `table inet <prefix>`.

    forward   traffic from or to our subnets jumps to `testbed`:
              established/related pass; each topology flow passes as
              "source instance addresses → target instance addresses:port, new";
              the world (anything not arriving on our bridges) may open the
              published service's port; everything else is dropped.
              Counters: each flow's accept rule counts the connections it
              lets open; every refused TCP connection attempt is counted per
              (source, destination, port) in the dynamic set `denied`, which
              `shopnet dashboard` reads (`nft -j list table inet <prefix>`).
    input     from our bridges to the host itself: replies only (the host
              administers the instances; they may not open connections to it).
    nat       the published port on any local address → the world-facing
              service, for packets arriving (prerouting) and for the host's own
              (output: `curl localhost:8080`); 127.0.0.0/8 sources are
              masqueraded out of that tier's bridge (the kernel would not route
              them; moby #8356 is why Docker needed docker-proxy for this).

Rules match addresses, not interfaces, so they hold for routed traffic between
tiers *and* for traffic between two instances on one bridge: with
br_netfilter (`bridge-nf-call-iptables=1`, which Docker sets too) bridged IPv4
passes the IP forward hook.

With several hosts (hostplan.py) the real host keeps this table for the DNAT
and its underlay bridge, and every simulated host loads the same flows into a
table of its own (`render_host`): traffic between two hosts passes both.

The attached wiring (plan.py) keeps this one table rather than adding a
`bridge`-family one or per-leg rules: every connection is then bridged, so it
passes the same forward hook through br_netfilter, and a flow's sources simply
list every address of the source instances (home and legs) while its targets
stay the home addresses the services are reached at. The same rules, counters
and isolation matrix hold for both wirings; a connection to a leg address
matches no flow and is dropped. Rules are written as text and loaded with
`nft -f -` (no nftables bindings on PyPI) in one transaction that replaces the
whole table, so the firewall is either the old one or the new one. Other
tables (Docker's iptables-nft `ip filter`/`ip nat`) keep running beside ours: a
packet must pass every base chain, so our drops hold even where Docker accepts.
"""

from __future__ import annotations

import logging
from ipaddress import IPv4Address

from shopnet.hostnet import tools
from shopnet.topology.model import WORLD
from shopnet_netns import namespaces
from shopnet_netns.hostplan import HostPlan
from shopnet_netns.names import Names
from shopnet_netns.plan import NetworkPlan

log = logging.getLogger("shopnet.netns.firewall")

ARRIVING = " (from another host)"
"""Comment suffix of a simulated host's rules for connections another host opened (and
counted): `shopnet dashboard` sums every host's counters without them."""
DENIED_SET = "denied"
"""Dynamic set of refused TCP attempts, one element with a counter per (source, destination, port)."""


def _set(items: list[str]) -> str:
    return "{ " + ", ".join(items) + " }"


def render(plan: NetworkPlan) -> str:
    """The nftables ruleset (text) for the real host: with several hosts, the underlay
    bridge is its only bridge of ours, and the DNAT leaves through it."""
    if plan.underlay is not None:
        return _table(plan, bridges=[plan.underlay.bridge], admin=None, nat=True)
    return _table(plan, bridges=[b.name for b in plan.bridges], admin=None, nat=True)


def render_host(plan: NetworkPlan, host: HostPlan) -> str:
    """The ruleset inside one simulated host: the same flows, no NAT (the real host
    DNATs), and the real host's own connections (administration, arriving over the
    underlay) pass — on one host they never cross a forward hook."""
    assert plan.underlay is not None
    bridges = [b.name for b in host.bridges]
    admin = plan.underlay.address.ip
    return _table(plan, bridges=bridges, admin=admin, nat=False, host=host.name)


def _table(
    plan: NetworkPlan,
    *,
    bridges: list[str],
    admin: IPv4Address | None,
    nat: bool,
    host: str | None = None,
) -> str:
    names = plan.names
    subnets = [str(b.tier.subnet) for b in plan.bridges]
    bridges = [f'"{b}"' for b in bridges]
    flows: list[str] = []
    if admin is not None:
        flows.append(f'ip saddr {admin} ct state new counter accept comment "the host administers"')
    for flow in plan.topology.flows:
        targets = [str(e.address.ip) for e in plan.instances_of(flow.target)]
        if not targets:
            continue
        what = f"{flow.source} -> {flow.target}:{flow.port}"
        match = f"ip daddr {_set(targets)} tcp dport {flow.port} ct state new counter accept"
        if flow.source == WORLD:
            # In a simulated host the world arrives through the real host, which counted it.
            suffix = ARRIVING if host is not None else ""
            flows.append(f'iifname != @bridges {match} comment "{what}{suffix}"')
            continue
        # Every address of the sources: attached instances connect from their legs.
        sources = list(plan.instances_of(flow.source))
        groups = [(sources, "")]
        if host is not None:  # a connection between hosts passes both: count it at its source
            mine = [e for e in sources if e.host == host]
            groups = [(mine, ""), ([e for e in sources if e.host != host], ARRIVING)]
        for group, suffix in groups:
            addresses = [str(a) for e in group for a in e.addresses]
            if addresses:
                flows.append(f'ip saddr {_set(addresses)} {match} comment "{what}{suffix}"')

    lines = [
        f"table inet {names.nft_table} {{",
        '  comment "shopnet testbed firewall; removed by `shopnet down`"',
        "  set subnets {",
        f"    type ipv4_addr; flags interval; elements = {_set(subnets)}",
        "  }",
        "  set bridges {",
        f"    type ifname; elements = {_set(bridges)}",
        "  }",
        f"  set {DENIED_SET} {{",
        "    type ipv4_addr . ipv4_addr . inet_service; flags dynamic; counter; size 4096",
        "  }",
        "  chain forward {",
        "    type filter hook forward priority filter; policy accept;",
        "    ip saddr @subnets jump testbed",
        "    ip daddr @subnets jump testbed",
        "  }",
        "  chain testbed {",
        "    ct state established,related accept",
        *(f"    {rule}" for rule in flows),
        # No verdict: only counts the pair (when the set is full the packet still drops below).
        f"    ct state new update @{DENIED_SET} {{ ip saddr . ip daddr . tcp dport }}",
        '    counter drop comment "anything else from or to the testbed"',
        "  }",
        "  chain input {",
        "    type filter hook input priority filter; policy accept;",
        "    iifname @bridges ct state established,related accept",
        '    iifname @bridges counter drop comment "no connections from instances to the host"',
        "  }",
    ]
    if nat and plan.published is not None and plan.published.targets:
        pub = plan.published
        if len(pub.targets) == 1:
            to = f"{pub.targets[0]}:{pub.target_port}"
        else:
            spread = ", ".join(f"{i} : {a}" for i, a in enumerate(pub.targets))
            to = f"numgen inc mod {len(pub.targets)} map {{ {spread} }} : {pub.target_port}"
        dnat = f"fib daddr type local tcp dport {pub.port} dnat ip to {to}"
        lines += [
            "  chain prerouting {",
            "    type nat hook prerouting priority dstnat; policy accept;",
            f"    {dnat}",
            "  }",
            "  chain output {",
            # -100 is dstnat; nft 1.0.6 does not accept the name on the output hook.
            "    type nat hook output priority -100; policy accept;",
            f"    {dnat}",
            "  }",
            "  chain postrouting {",
            "    type nat hook postrouting priority srcnat; policy accept;",
            f'    oifname "{pub.bridge}" ip saddr 127.0.0.0/8 masquerade',
            "  }",
        ]
    lines.append("}")
    return "\n".join(lines) + "\n"


def apply(plan: NetworkPlan) -> None:
    """Load (or atomically replace) our table, and each simulated host's."""
    _load(plan.names, render(plan), None)
    for host in plan.hosts:
        _load(plan.names, render_host(plan, host), host.namespace)


def _load(names: Names, ruleset: str, namespace: str | None) -> None:
    table = names.nft_table
    # "table" alone creates it if missing, so "delete" cannot fail: one transaction.
    script = f"table inet {table}\ndelete table inet {table}\n{ruleset}"
    argv = ["nft", "-f", "-"]
    if namespace is not None:  # nsenter, not `ip netns exec`: no remount of /sys needed
        argv = ["nsenter", f"--net={namespaces.path(namespace)}", *argv]
    where = f" in {namespace}" if namespace else ""
    tools.run(argv, stdin=script, what=f"loading nftables table inet {table}{where}")
    log.info("firewall loaded", extra={"table": f"inet {table}", "namespace": namespace})


def tables(names: Names) -> list[str]:
    """Our nftables tables, as "<family> <name>" (ours: named <prefix> or <prefix>_*)."""
    out = tools.run(["nft", "list", "tables"], what="listing nftables tables")
    found = []
    for line in out.stdout.splitlines():
        words = line.split()  # table <family> <name>
        if len(words) == 3 and words[0] == "table":
            name = words[2]
            if name == names.nft_table or name.startswith(f"{names.nft_table}_"):
                found.append(f"{words[1]} {name}")
    return sorted(found)


def remove(names: Names) -> tuple[list[str], list[str]]:
    """Delete our tables; (removed, problems)."""
    removed: list[str] = []
    problems: list[str] = []
    for table in tables(names):
        argv = ["nft", "delete", "table", *table.split()]
        out = tools.run(argv, what=f"deleting nftables table {table}", check=False)
        if out.returncode == 0:
            removed.append(f"nftables table {table}")
        else:
            problems.append(f"nftables table {table}: {out.stderr.strip()}")
    return removed, problems
