"""A tier's veth pairs, found from the host, and tc netem or tbf on both of their ends.

For instances whose namespace has no name we know (a container's), the veth is
looked up: the instance's interface on the tier is the one with the MAC address
the runtime reports for that network, and its peer on the host is the interface
whose index is the `link_index` that `ip -j link` (run in the instance's network
namespace with nsenter) reports for it. Every command runs as a user could type it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from shopnet.errors import DriverError
from shopnet.hostnet import tools
from shopnet.hostnet.ratelimit import KINDS, Rate

PACKAGES = {"tc": "iproute2", "nsenter": "util-linux"}
HANDLE = "1:"


@dataclass(frozen=True, slots=True)
class Endpoint:
    """An instance on a tier, as its runtime reports it."""

    name: str
    """What errors and qdisc listings call it (e.g. the container's name)."""
    pid: int
    """A process inside its network namespace."""
    mac: str
    """MAC address of its interface on the tier (lowercase)."""


@dataclass(frozen=True, slots=True)
class Link:
    """One instance's veth on a tier."""

    name: str
    pid: int
    inside: str
    """Interface name in the instance's namespace, e.g. `eth1`."""
    host: str
    """Its peer on the host, e.g. `veth3f2a1b7`."""


def binary(name: str) -> str:
    return tools.binary(name, package=PACKAGES.get(name))


def _run(argv: list[str], *, what: str) -> str:
    return tools.run(argv, what=what).stdout


def _inside(pid: int, argv: list[str]) -> list[str]:
    return [binary("nsenter"), "-t", str(pid), "-n", *argv]


def host_index() -> dict[int, str]:
    """ifindex → name of the host's interfaces."""
    found = {}
    for entry in Path("/sys/class/net").iterdir():
        try:
            found[int((entry / "ifindex").read_text())] = entry.name
        except (OSError, ValueError):
            continue
    return found


def find(endpoints: list[Endpoint], tier: str) -> list[Link]:
    """The veth of every endpoint on `tier` (`tier` only names it in errors)."""
    by_index = host_index()
    found = []
    for endpoint in endpoints:
        listing = json.loads(
            _run(
                _inside(endpoint.pid, [binary("ip"), "-j", "link", "show"]),
                what=f"listing the interfaces of {endpoint.name}",
            )
            or "[]"
        )
        for interface in listing:
            if interface.get("address", "").lower() == endpoint.mac and "link_index" in interface:
                peer = by_index.get(int(interface["link_index"]))
                if peer is None:
                    raise DriverError(
                        f"the host end of {endpoint.name}'s {interface['ifname']} "
                        f"(index {interface['link_index']}) was not found"
                    )
                found.append(Link(endpoint.name, endpoint.pid, interface["ifname"], peer))
                break
        else:
            raise DriverError(
                f"no interface of {endpoint.name} has {tier}'s address {endpoint.mac}"
            )
    return found


def _ends(link: Link) -> list[tuple[list[str], str]]:
    """(argv prefix that runs tc there, interface) for both ends of `link`."""
    tc = binary("tc")
    return [([tc], link.host), (_inside(link.pid, [tc]), link.inside)]


def netem(found: Sequence[Link], *, delay_ms: float, loss_pct: float) -> int:
    """Replace the root qdisc of both ends of every link with netem; returns interfaces shaped."""
    shaped = 0
    for link in found:
        for prefix, ifname in _ends(link):
            _run(
                [*prefix, "qdisc", "replace", "dev", ifname, "root", "handle", HANDLE, "netem",
                 "delay", f"{delay_ms:g}ms", "loss", f"{loss_pct:g}%"],
                what=f"netem on {link.name}:{ifname}",
            )  # fmt: skip
            shaped += 1
    return shaped


def ratelimit(found: Sequence[Link], rate: Rate) -> int:
    """Replace the root qdisc of both ends of every link with tbf; returns interfaces shaped."""
    shaped = 0
    for link in found:
        for prefix, ifname in _ends(link):
            _run(
                [*prefix, "qdisc", "replace", "dev", ifname, "root", "handle", HANDLE, "tbf",
                 *rate.tc_args()],
                what=f"tbf on {link.name}:{ifname}",
            )  # fmt: skip
            shaped += 1
    return shaped


def _root_kinds(prefix: list[str], ifname: str) -> list[str]:
    shown = json.loads(
        _run([*prefix, "-j", "qdisc", "show", "dev", ifname], what=f"qdiscs of {ifname}") or "[]"
    )
    return [q.get("kind", "?") for q in shown if q.get("root")]


def clear(found: Sequence[Link]) -> int:
    """Remove the root qdiscs `netem` puts there (netem, tbf) from both ends; returns how many."""
    cleared = 0
    for link in found:
        for prefix, ifname in _ends(link):
            if set(KINDS) & set(_root_kinds(prefix, ifname)):
                _run(
                    [*prefix, "qdisc", "del", "dev", ifname, "root"],
                    what=f"removing netem/tbf from {link.name}:{ifname}",
                )
                cleared += 1
    return cleared


def root_qdiscs(found: Sequence[Link]) -> dict[str, str]:
    """`<name>/<ifname>` and `host/<ifname>` → kind of the root qdisc (for tests, status)."""
    kinds = {}
    for link in found:
        for (prefix, ifname), where in zip(_ends(link), ("host", link.name), strict=True):
            roots = _root_kinds(prefix, ifname)
            kinds[f"{where}/{ifname}"] = roots[0] if roots else "noqueue"
    return kinds
