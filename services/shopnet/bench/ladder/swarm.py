"""The ladder's swarm overlay row: two containers on a Swarm overlay across two engines.

The second engine is swarm mode's own (shopnet_swarm.nodes): a dockerd of ours in the
namespace `ladder-n2`, joined over the veth `ladder-h` ↔ `ladder-i` as a worker to a
swarm that this host's engine initialises on that underlay. Instead of a service (which
would add swarm's scheduler and, without `endpoint_mode: dnsrr`, IPVS), each engine runs
one plain container on an *attachable* overlay: the client on this engine, the server on
node 2, so every probe packet crosses VXLAN between the two engines — the same
encapsulation as the netns VXLAN row, plus Docker's per-network namespace and bridge.
Overlays are left unencrypted (this kernel has no ESP; see shopnet_swarm.ipsec).

It never touches a swarm that is not the ladder's: an engine already in any swarm (a
person's, or a running `shopnet up --mode swarm`) skips the row. The swarm is the
ladder's when its second node's namespace or its labelled docker_gwbridge exists; teardown
(`teardown_containers`, then `teardown_swarm`, from teardown.cleanup) finds it by those
names after a clean run, a failure or a kill -9.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from shopnet.bench.ladder import plumbing as p
from shopnet.bench.ladder.probes import Endpoint
from shopnet.errors import ShopnetError

if TYPE_CHECKING:
    from shopnet_docker.engine import Docker
    from shopnet_swarm.nodes import SecondNode

STACK = "ladder"
"""The second node's name stem: namespace ladder-n2, veth ladder-h/ladder-i, /run/ladder-n2."""
DATA_ROOT = Path("/var/lib/shopnet-ladder/n2")
NETWORK = "ladder-ov"
CLIENT = "ladder-s1"
SERVER = "ladder-s2"


class RowUnavailable(ShopnetError):
    """A row that cannot be built here, for a reason the report states in one line."""


def node() -> SecondNode:
    from shopnet_swarm.nodes import SecondNode

    return SecondNode(STACK, DATA_ROOT)


def _engines() -> tuple[Docker, Docker]:
    from shopnet_docker.engine import Docker

    docker = Docker(p.docker_binary())
    return docker, node().engine(docker)


def _ladders_swarm() -> bool:
    """Whether a swarm (or half of one) of the ladder's exists: its node 2 or its gwbridge."""
    from shopnet_swarm import nodes

    if node().present():
        return True
    if not p.docker_ready():
        return False
    docker, _ = _engines()
    return bool(nodes.our_gwbridge(docker, STACK))


@dataclass
class SwarmLab:
    """Built once on demand; `hop` returns the row's endpoints."""

    built: dict[str, tuple[Endpoint, str, Endpoint]] = field(default_factory=dict)

    def hop(self) -> tuple[Endpoint, str, Endpoint]:
        if not self.built:
            self.built["row"] = self._build()
        return self.built["row"]

    def _build(self) -> tuple[Endpoint, str, Endpoint]:
        from shopnet_swarm import nodes

        docker, node2 = _engines()
        state, address = nodes.swarm_state(docker)
        if state != "inactive":
            raise RowUnavailable(
                f"this engine is already in a swarm ({state}, {address or 'no address'}) "
                "that the ladder did not make; it leaves it alone"
            )
        if _underlay_taken():
            raise RowUnavailable(f"the swarm underlay {nodes.UNDERLAY[0]} is in use on this host")
        image = p.ensure_image()
        DATA_ROOT.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        node().start(docker, DATA_ROOT.parent / "node2.log")
        nodes.copy_image(docker, node2, image, timeout=120)
        nodes.init(docker, node2, STACK)
        p.docker("network", "create", "--driver", "overlay", "--attachable",
                 "--label", p.LABEL, NETWORK, what="ladder: overlay")  # fmt: skip
        common = ["run", "-d", "--label", p.LABEL, "--network", NETWORK,
                  "--cap-drop", "ALL", "--security-opt", "no-new-privileges", "--read-only"]  # fmt: skip
        p.docker(*common, "--name", CLIENT, image, what="ladder: swarm client", timeout=120)
        node2.run(*common, "--name", SERVER, image, what="ladder: swarm server", timeout=120)
        networks = "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}"
        server_ip = node2.run("inspect", "-f", networks, SERVER, what="ladder: inspect").stdout
        server_pid = node2.run("inspect", "-f", "{{.State.Pid}}", SERVER, what="ladder: pid").stdout
        server = Endpoint.container(SERVER, int(server_pid))
        client = Endpoint.container(CLIENT, p.container_pid(CLIENT))
        return server, server_ip.strip(), client


def _underlay_taken() -> bool:
    from shopnet_swarm.nodes import UNDERLAY

    out = subprocess.run(["ip", "-o", "addr", "show", "to", str(UNDERLAY[0].ip)],
                         capture_output=True, text=True, check=False)  # fmt: skip
    return bool(out.stdout.strip())


# -- teardown -----------------------------------------------------------------------


def leftovers() -> list[str]:
    """Node 2 (but its namespace, which plumbing lists) and the ladder's gwbridge."""
    if not p.docker_binary():
        return []
    found = [item for item in node().present() if not item.startswith("namespace ")]
    if p.docker_ready():
        from shopnet_swarm import nodes

        docker, _ = _engines()
        if nodes.our_gwbridge(docker, STACK):
            found.append(f"the ladder's swarm and its {nodes.GWBRIDGE}")
    return found


def teardown_containers() -> list[str]:
    """Node 2's ladder containers and the probes entered into them (nsenter'd processes
    are not the container's: they would hold its namespace)."""
    if not p.docker_binary() or not node().pid():
        return []
    _, node2 = _engines()
    listed = node2.run("ps", "-a", "-q", "--filter", f"label={p.LABEL}",
                       what="ladder: node 2 containers", check=False)  # fmt: skip
    removed = []
    for ident in listed.stdout.split():
        out = node2.run("inspect", "-f", "{{.State.Pid}} {{.Name}}", ident,
                        what="ladder: inspect", check=False)  # fmt: skip
        pid, _, name = out.stdout.strip().partition(" ")
        with contextlib.suppress(ValueError, OSError):
            if int(pid):
                for probe in p.probes_in_netns(os.readlink(f"/proc/{pid}/ns/net")):
                    p.kill(probe)
        node2.run("rm", "-f", ident, what="ladder: node 2 rm", check=False)
        removed.append(f"container {name.lstrip('/') or ident} on node 2")
    return removed


def teardown_swarm() -> list[str]:
    """Leave the ladder's swarm (both nodes), remove its gwbridge, stop node 2."""
    if not p.docker_binary() or not _ladders_swarm():
        return []
    from shopnet_swarm import nodes

    docker, node2 = _engines()
    removed = []
    with contextlib.suppress(ShopnetError):
        if nodes.our_gwbridge(docker, STACK):
            # Created just before `swarm init`: this engine's swarm, if any, is the ladder's.
            removed += nodes.leave(docker, node2 if node().pid() else None, STACK)
        elif node().pid():
            node2.run("swarm", "leave", "--force", what="ladder: node 2 leaving", check=False)
    removed += node().stop()
    return removed
