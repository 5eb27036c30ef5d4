"""`down` of a swarm stack: the stack, then our swarm, then node 2; idempotent.

1. `docker stack rm` (services, networks, secrets, configs of the stack), then
   until no task container of ours is left on either node;
2. whatever still carries both our labels (a crash mid-deploy): services,
   secrets, configs, containers, networks; with `volumes` our volumes too;
3. leaving the swarm, only when it is this stack's (nodes.ours), and our
   labelled docker_gwbridge;
4. node 2: its dockerd, data root, exec root, veth and namespace;
5. our unreachable routes for the tiers' subnets on this host (tierroutes.py).

A swarm someone else made is never left, and nothing without our labels is touched.
"""

from __future__ import annotations

import shutil
import time
from typing import TYPE_CHECKING

from shopnet.errors import PreflightError
from shopnet.runtime.base import DownResult
from shopnet_docker.engine import last_lines
from shopnet_docker.stack import Network
from shopnet_swarm import nodes, tierroutes
from shopnet_swarm.tasks import STACK_LABEL

if TYPE_CHECKING:
    from shopnet_swarm.driver import SwarmDriver

DRAIN_TIMEOUT = 60.0


def down(driver: SwarmDriver, *, volumes: bool) -> DownResult:
    docker, stack, layout = driver.docker, driver.stack, driver.layout
    try:
        docker.ping(timeout=10.0)
    except PreflightError as exc:
        stopped = driver.node2.stop() + tierroutes.release(driver.topology, driver.project)
        if not layout.state_file.exists():
            return DownResult(removed=tuple(stopped))
        return DownResult(
            removed=tuple(stopped),
            problems=(f"{exc}; {layout.state_file} is kept for a later `shopnet down`",),
        )
    removed: list[str] = []
    problems: list[str] = []
    labels = ["--filter", f"label={STACK_LABEL}={driver.project}"]
    labels += ["--filter", f"label=io.shopnet.stack={driver.project}"]
    before = {c.id: c.instance for c in stack.containers()}
    if nodes.ours(docker, driver.project):
        services = docker.lines("service", "ls", "-q", *labels, what="services")
        if services:
            docker.run("stack", "rm", driver.project, what="docker stack rm", check=False)
            removed.append(f"stack {driver.project} ({len(services)} services)")
        deadline = time.monotonic() + DRAIN_TIMEOUT
        while stack.containers() and time.monotonic() < deadline:
            time.sleep(1.0)
        for kind in ("service", "secret", "config"):
            for ident in docker.lines(kind, "ls", "-q", *labels, what=f"{kind}s"):
                out = docker.run(kind, "rm", ident, what=f"{kind} rm", check=False)
                if out.returncode != 0:
                    problems.append(f"{kind} {ident}: {last_lines(out.stderr)}")
    for _, engine in stack.engines():
        listed = engine.run("ps", "-a", "-q", *labels, what="containers", check=False)
        for ident in listed.stdout.split():
            engine.run("rm", "-f", "-v", ident, what="rm", check=False)
    removed += [f"container of {name}" for i, name in before.items()]
    for network in _wait_networks_gone(driver):
        out = docker.run("network", "rm", network.id, what="network rm", check=False)
        if out.returncode == 0:
            removed.append(f"network {network.name}")
        elif "not found" not in out.stderr:
            problems.append(f"network {network.name}: {last_lines(out.stderr)}")
    if volumes:
        for volume in stack.volumes():
            out = docker.run("volume", "rm", volume, what="volume rm", check=False)
            if out.returncode == 0:
                removed.append(f"volume {volume}")
            else:
                problems.append(f"volume {volume}: {last_lines(out.stderr)}")
    try:
        removed += nodes.leave(docker, docker.node2, driver.project)
    except Exception as exc:  # node 2 must still go; report the swarm
        problems.append(str(exc))
    docker.node2 = None
    removed += driver.node2.stop()
    removed += tierroutes.release(driver.topology, driver.project)
    if not problems and not nodes.ours(docker, driver.project):
        layout.state_file.unlink(missing_ok=True)
        driver.stack_file.unlink(missing_ok=True)
        driver.node2_log.unlink(missing_ok=True)
        if volumes and layout.data.exists():
            shutil.rmtree(layout.data)
            removed.append(f"data in {layout.data}")
    return DownResult(removed=tuple(removed), problems=tuple(problems))


def _wait_networks_gone(driver: SwarmDriver) -> list[Network]:
    """Our networks still there after `stack rm` (which removes them asynchronously)."""
    deadline = time.monotonic() + 15.0
    while (left := driver.stack.networks()) and time.monotonic() < deadline:
        time.sleep(0.5)
    return left
