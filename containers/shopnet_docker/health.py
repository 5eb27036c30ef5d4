"""A container's own health check, run by the driver when it needs the answer now.

Docker 20.10 runs a container's first check one interval after it starts
(`start_interval`, a short interval while starting, came with API 1.44 / Docker 25;
`docker update` cannot change a health check). Gating start-up on Docker's health
status therefore costs one interval per level of dependencies — with the 30 s that
keeps the checks' `docker exec`s out of a benchmark's CPU, ~125 s per `up`.

So `up` starts the services level by level and runs each new container's check itself
(the same command, `docker exec`), every half second until it passes, and only then
starts what depends on it; `status` does the same for a container Docker has not
checked yet. Docker's own checks can then run at a long interval (DRIVER_INTERVAL).
"""

from __future__ import annotations

from shopnet.errors import ShopnetError
from shopnet.topology.model import Service, Topology
from shopnet_docker.engine import Docker
from shopnet_docker.stack import Container

DRIVER_INTERVAL = "30s"
"""Docker's interval between checks for the stacks `shopnet up` starts (SHOPNET_HEALTH_INTERVAL
overrides it): a sixth of the checks' CPU at 5 s (~8 % of a core idle); the compose file's own
default (5 s) is for `compose up` run by hand, which gates start-up on Docker's checks."""
CHECK_TIMEOUT = 5.0
"""As the compose file's `timeout: 3s`, plus `docker exec`'s own start."""


def exec_argv(test: tuple[str, ...]) -> list[str] | None:
    """The command of a Docker health test (`CMD …` / `CMD-SHELL …`); None without one."""
    if len(test) >= 2 and test[0] == "CMD":
        return list(test[1:])
    if len(test) == 2 and test[0] == "CMD-SHELL":
        return ["/bin/sh", "-c", test[1]]
    return None


def passes(docker: Docker, c: Container) -> bool:
    """Whether `c` is healthy now: Docker says so, or its own check passes when we run it."""
    if not c.running:
        return False
    if c.health == "healthy":
        return True
    argv = exec_argv(c.health_test)
    if argv is None:
        return not c.health  # no check: running is all there is to know
    try:
        out = docker.run(
            "exec", c.id, *argv, what=f"health check of {c.instance}",
            timeout=CHECK_TIMEOUT, check=False,
        )  # fmt: skip
    except ShopnetError:  # timed out: not healthy yet
        return False
    return out.returncode == 0


def dependency_levels(topology: Topology) -> list[tuple[Service, ...]]:
    """Services grouped so each group depends only on earlier ones: what may start together."""
    depth: dict[str, int] = {}
    for service in topology.start_order():
        depth[service.name] = 1 + max((depth[d] for d in service.depends_on), default=-1)
    groups: dict[int, list[Service]] = {}
    for service in topology.start_order():
        groups.setdefault(depth[service.name], []).append(service)
    return [tuple(groups[d]) for d in sorted(groups)]
