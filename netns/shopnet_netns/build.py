"""Bring the network of a plan into existence: checks, firewall, sysctls, links.

Order matters for safety, not for idempotency (every step is idempotent):

    1. preflight     refuse collisions before anything is created
    2. firewall      our nftables table and Docker-coexistence ACCEPTs, loaded
                     first: rules name addresses and interfaces that need not
                     exist yet, so no link is ever up without its policy
    3. sysctls       recorded, then set: ip_forward, bridge-nf-call-iptables
    4. links         bridges, namespaces, veths, addresses, routes; with several
                     hosts the underlay, host namespaces and VXLAN (overlay.py),
                     each host's namespace created before step 2 so its own
                     firewall is loaded before any of its links exist

Killed at any point, `build` again completes the network and `teardown`
removes it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from shopnet.errors import PreflightError
from shopnet.hostnet import tools
from shopnet_netns import firewall, iptables, links, namespaces, overlay, preflight, sysctl
from shopnet_netns.plan import NetworkPlan

log = logging.getLogger("shopnet.netns.build")

BRIDGE_SYSCTLS = Path("/proc/sys/net/bridge")


@dataclass(frozen=True, slots=True)
class BuildReport:
    iptables_chains: tuple[str, ...]
    """Where ACCEPTs for our bridges went (e.g. `nf_tables DOCKER-USER`); empty without Docker."""
    sysctls_changed: dict[str, str]
    """Global sysctls this build changed → their previous value."""


def ensure_br_netfilter() -> None:
    """Make bridged IPv4 pass the IP firewall hooks (br_netfilter), loading the module if needed."""
    if BRIDGE_SYSCTLS.exists():
        return
    out = tools.run(["modprobe", "br_netfilter"], what="loading br_netfilter", check=False)
    if out.returncode != 0 or not BRIDGE_SYSCTLS.exists():
        raise PreflightError(
            "br_netfilter is not available (modprobe br_netfilter failed): without it traffic "
            "between two instances of one tier would bypass the firewall"
        )


def build(plan: NetworkPlan) -> BuildReport:
    """Create (or complete) the network of `plan`.

    Raises PreflightError, StateError (a foreign bridge in the way) or DriverError.
    """
    preflight.check(plan, allow_ours=True)
    ensure_br_netfilter()
    for host in plan.hosts:
        namespaces.create(host.namespace)
    firewall.apply(plan)
    ours = [plan.underlay.bridge] if plan.underlay else [b.name for b in plan.bridges]
    placed = iptables.ensure(plan.names, ours)
    changed = sysctl.ensure(
        plan.names.prefix, {sysctl.IP_FORWARD: "1", sysctl.BRIDGE_NF_IPTABLES: "1"}
    )
    if plan.hosts:
        overlay.ensure(plan)
    else:
        links.ensure_links(plan)
    log.info(
        "network built",
        extra={"prefix": plan.names.prefix, "instances": len(plan.endpoints)},
    )
    return BuildReport(tuple(placed), changed)
