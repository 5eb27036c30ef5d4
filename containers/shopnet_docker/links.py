"""A docker tier's links: its bridge, and both ends of each container's veth on it.

capture needs the bridge (`snd-<tier>`); netem needs the veth pairs. Docker does
not report veth names, so they are looked up: the container's interface on the
tier is the one with the MAC address `docker inspect` gives for that network,
and its peer on the host is the interface whose index is the `link_index` that
`ip -j link` (run in the container's namespace with nsenter) reports for it.

netem semantics match the netns mode (shopnet_netns.netem): a netem qdisc on both
ends of each veth, so every packet into or out of a container of the tier waits
the delay, and the loss applies in each direction.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from shopnet.errors import DriverError, PreflightError
from shopnet_docker.stack import Container

PACKAGES = {"ip": "iproute2", "tc": "iproute2", "nsenter": "util-linux", "tcpdump": "tcpdump"}
HANDLE = "1:"


@dataclass(frozen=True, slots=True)
class Link:
    """One container's veth on a tier."""

    container: Container
    inside: str
    """Interface name in the container, e.g. `eth1`."""
    host: str
    """Its peer on the host, e.g. `veth3f2a1b7`."""


def binary(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise PreflightError(
            f"{name} not found: install it with `apt-get install {PACKAGES.get(name, name)}`"
        )
    return found


def _run(argv: list[str], *, what: str) -> str:
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    except subprocess.TimeoutExpired:
        raise DriverError(f"{what}: timed out") from None
    if out.returncode != 0:
        detail = (out.stderr or out.stdout).strip().splitlines()
        raise DriverError(f"{what} failed: {detail[-1] if detail else out.returncode}")
    return out.stdout


def _in_container(container: Container, argv: list[str]) -> list[str]:
    return [binary("nsenter"), "-t", str(container.pid), "-n", *argv]


def host_index() -> dict[int, str]:
    """ifindex → name of the host's interfaces."""
    found = {}
    for entry in Path("/sys/class/net").iterdir():
        try:
            found[int((entry / "ifindex").read_text())] = entry.name
        except (OSError, ValueError):
            continue
    return found


def links(containers: list[Container], tier: str) -> list[Link]:
    """The veth of every running container attached to `tier`."""
    by_index = host_index()
    found = []
    for container in containers:
        mac = container.macs.get(tier)
        if mac is None or not container.running or not container.pid:
            continue
        listing = json.loads(
            _run(
                _in_container(container, [binary("ip"), "-j", "link", "show"]),
                what=f"listing the interfaces of {container.name}",
            )
            or "[]"
        )
        for interface in listing:
            if interface.get("address", "").lower() == mac and "link_index" in interface:
                peer = by_index.get(int(interface["link_index"]))
                if peer is None:
                    raise DriverError(
                        f"the host end of {container.name}'s {interface['ifname']} "
                        f"(index {interface['link_index']}) was not found"
                    )
                found.append(Link(container, interface["ifname"], peer))
                break
        else:
            raise DriverError(f"no interface of {container.name} has {tier}'s address {mac}")
    return found


def _ends(link: Link) -> list[tuple[list[str], str]]:
    """(argv prefix that runs tc there, interface) for both ends of `link`."""
    tc = binary("tc")
    return [([tc], link.host), (_in_container(link.container, [tc]), link.inside)]


def netem(found: list[Link], *, delay_ms: float, loss_pct: float) -> int:
    """Replace the root qdisc of both ends of every link with netem; returns interfaces shaped."""
    shaped = 0
    for link in found:
        for prefix, ifname in _ends(link):
            _run(
                [*prefix, "qdisc", "replace", "dev", ifname, "root", "handle", HANDLE, "netem",
                 "delay", f"{delay_ms:g}ms", "loss", f"{loss_pct:g}%"],
                what=f"netem on {link.container.name}:{ifname}",
            )  # fmt: skip
            shaped += 1
    return shaped


def clear(found: list[Link]) -> int:
    """Remove netem root qdiscs (only ours: netem) from both ends; returns how many."""
    cleared = 0
    for link in found:
        for prefix, ifname in _ends(link):
            shown = json.loads(
                _run([*prefix, "-j", "qdisc", "show", "dev", ifname], what=f"qdiscs of {ifname}")
                or "[]"
            )
            if any(q.get("kind") == "netem" and q.get("root") for q in shown):
                _run(
                    [*prefix, "qdisc", "del", "dev", ifname, "root"],
                    what=f"removing netem from {link.container.name}:{ifname}",
                )
                cleared += 1
    return cleared


def root_qdiscs(found: list[Link]) -> dict[str, str]:
    """`<container>/<ifname>` and `host/<ifname>` → kind of the root qdisc (for tests, status)."""
    kinds = {}
    for link in found:
        for (prefix, ifname), where in zip(_ends(link), ("host", link.container.name), strict=True):
            shown = json.loads(
                _run([*prefix, "-j", "qdisc", "show", "dev", ifname], what=f"qdiscs of {ifname}")
                or "[]"
            )
            roots = [q.get("kind", "?") for q in shown if q.get("root")]
            kinds[f"{where}/{ifname}"] = roots[0] if roots else "noqueue"
    return kinds
