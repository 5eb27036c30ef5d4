"""Everything the ladder creates, found by its tag and removed: after a run, a failure or
a kill -9 (`shopnet down` and the next ladder run call `cleanup`). Apart from plumbing so
that the swarm row, which builds on plumbing, can take part in the teardown."""

from __future__ import annotations

import contextlib
import os

from shopnet.bench.ladder import plumbing as p
from shopnet.bench.ladder import swarm
from shopnet.errors import ShopnetError
from shopnet.hostnet.tools import run


def leftovers() -> list[str]:
    """Everything of the ladder's that exists now (what cleanup would remove)."""
    return (
        [f"namespace {n}" for n in p.ladder_namespaces()]
        + [f"container {c}" for c in p.ladder_containers()]
        + [f"network {n}" for n in p.ladder_networks()]
        + swarm.leftovers()
    )


def cleanup() -> list[str]:
    """Remove everything the ladder creates, found by its tag; converges, idempotent."""
    removed = swarm.teardown_containers()  # node 2's, before the overlay they are on
    for name in p.ladder_containers():
        with contextlib.suppress(ShopnetError, ValueError, OSError):
            main = p.container_pid(name)
            if main:
                # Probes entered with nsenter are not the container's own processes: docker
                # rm would leave them holding its namespace.
                for probe in p.probes_in_netns(os.readlink(f"/proc/{main}/ns/net")):
                    p.kill(probe)
        p.docker("rm", "-f", name, what=f"ladder: remove container {name}")
        removed.append(f"container {name}")
    for name in p.ladder_networks():
        p.docker("network", "rm", name, what=f"ladder: remove network {name}")
        removed.append(f"network {name}")
    removed += swarm.teardown_swarm()  # before the namespaces: node 2's dockerd is in one
    for ns in p.ladder_namespaces():
        listed = run(["ip", "netns", "pids", ns], what="ladder: ip netns pids", check=False)
        for word in listed.stdout.split():
            p.kill(int(word))
        p.ip("netns", "del", ns, what=f"ladder: remove namespace {ns}")
        removed.append(f"namespace {ns}")
    return removed
