"""What of ours exists, found by our names and markers, and removing all of it.

`discover` needs no record of what was built: namespaces carry our prefix,
links our IFLA_IFALIAS marker, the nftables table and the cgroup parent our
prefix, iptables rules our comment. `teardown` removes everything it finds, in
an order that never leaves a process or a link holding on to something, and
like containerlab's destroy it collects errors and carries on: one stuck
object never keeps the rest in place. Running it twice is harmless, and it
converges after a build killed at any point.
"""

from __future__ import annotations

import functools
import logging
import signal
from collections.abc import Callable
from dataclasses import dataclass

from pyroute2.netlink.exceptions import NetlinkError

from shopnet.errors import ShopnetError
from shopnet.runtime import process
from shopnet_netns import cgroups, firewall, iptables, links, namespaces, sysctl
from shopnet_netns.names import Names

log = logging.getLogger("shopnet.netns.inventory")


@dataclass(frozen=True, slots=True)
class Inventory:
    """Everything of one prefix that exists on this host."""

    namespaces: tuple[str, ...] = ()
    links: tuple[str, ...] = ()
    nft_tables: tuple[str, ...] = ()
    iptables_rules: tuple[str, ...] = ()
    cgroups: tuple[str, ...] = ()
    sysctl_claim: bool = False
    """Whether our prefix still owns recorded sysctl values (restored by teardown)."""
    problems: tuple[str, ...] = ()
    """What could not be inspected (e.g. nft missing)."""

    @property
    def empty(self) -> bool:
        return not (
            self.namespaces
            or self.links
            or self.nft_tables
            or self.iptables_rules
            or self.cgroups
            or self.sysctl_claim
        )

    def brief(self) -> str:
        parts = [
            f"{len(items)} {label}"
            for label, items in (
                ("namespaces", self.namespaces),
                ("links", self.links),
                ("nftables tables", self.nft_tables),
                ("iptables rules", self.iptables_rules),
                ("cgroups", self.cgroups),
            )
            if items
        ]
        if self.sysctl_claim:
            parts.append("recorded sysctls")
        return ", ".join(parts) or "nothing"

    def lines(self) -> list[str]:
        return [
            *(f"namespace {n}" for n in self.namespaces),
            *(f"link {n}" for n in self.links),
            *(f"nftables table {n}" for n in self.nft_tables),
            *(f"iptables rule {r}" for r in self.iptables_rules),
            *(f"cgroup {c}" for c in self.cgroups),
            *(["sysctl values recorded for restore"] if self.sysctl_claim else []),
        ]


def _names(names: Names | str) -> Names:
    return Names(names) if isinstance(names, str) else names


def discover(names: Names | str) -> Inventory:
    """What of ours exists now."""
    names = _names(names)
    problems: list[str] = []

    def attempt(what: str, fn: Callable[[], list[str]]) -> tuple[str, ...]:
        try:
            return tuple(fn())
        except (ShopnetError, OSError, NetlinkError) as exc:
            problems.append(f"cannot list {what}: {exc}")
            return ()

    return Inventory(
        namespaces=tuple(namespaces.listed(names.prefix)),
        links=attempt("links", lambda: links.owned_links(names)),
        nft_tables=attempt("nftables tables", lambda: firewall.tables(names)),
        iptables_rules=attempt("iptables rules", lambda: iptables.find(names)),
        cgroups=attempt("cgroups", lambda: cgroups.find(names)),
        sysctl_claim=names.prefix in sysctl.owners(),
        problems=tuple(problems),
    )


@dataclass(frozen=True, slots=True)
class TeardownReport:
    removed: tuple[str, ...]
    """What was found and removed."""
    problems: tuple[str, ...]
    """What could not be removed; everything else still was."""


def stop_namespace_processes(names: Names | str, *, timeout: float = 5.0) -> list[str]:
    """SIGTERM (then SIGKILL) every process inside our namespaces; returns what was stopped.

    A namespace lives on while a process holds it, so this comes before deleting them.
    """
    names = _names(names)
    stopped = []
    targets = []
    for namespace in namespaces.listed(names.prefix):
        for pid in namespaces.pids_in(namespace):
            targets.append((pid, signal.SIGTERM))
            stopped.append(f"process {pid} in {namespace}")
    if targets:
        process.stop(targets, timeout=timeout)
    return stopped


def teardown(names: Names | str, *, stop_timeout: float = 5.0) -> TeardownReport:
    """Remove everything of ours; idempotent; errors are collected, not raised."""
    names = _names(names)
    removed: list[str] = []
    problems: list[str] = []

    def step(what: str, fn: Callable[[], tuple[list[str], list[str]] | list[str]]) -> None:
        try:
            result = fn()
        except (ShopnetError, OSError, NetlinkError) as exc:
            problems.append(f"{what}: {exc}")
            return
        if isinstance(result, tuple):
            removed.extend(result[0])
            problems.extend(result[1])
        else:
            removed.extend(result)

    step("stopping processes", lambda: stop_namespace_processes(names, timeout=stop_timeout))
    for namespace in namespaces.listed(names.prefix):
        step(f"namespace {namespace}", functools.partial(_remove_namespace, namespace))
    step("links", lambda: links.remove_links(names))
    # The firewall goes last, as it came first in `build`: no link of ours is ever
    # up without its rules.
    step("nftables", lambda: firewall.remove(names))
    step("iptables", lambda: iptables.remove(names))
    step("cgroups", lambda: cgroups.remove(names))
    step("sysctls", lambda: _restore_sysctls(names))
    report = TeardownReport(tuple(removed), tuple(problems))
    log.info("teardown done", extra={"removed": len(removed), "problems": len(problems)})
    return report


def _remove_namespace(namespace: str) -> list[str]:
    links.remove_namespace_links(namespace)
    namespaces.remove(namespace)
    return [f"namespace {namespace}"]


def _restore_sysctls(names: Names) -> tuple[list[str], list[str]]:
    restored, problems = sysctl.restore(names.prefix)
    return [f"sysctl {item}" for item in restored], problems
