"""What of a swarm stack exists, on both nodes: its tasks' containers, networks, volumes.

The docker mode's Stack (shopnet_docker.stack) with Swarm's labels: an object is
ours when it carries `com.docker.stack.namespace=<stack>` and our
`io.shopnet.stack=<stack>`. Containers are listed on each node's engine; an
instance is `<service>-<task slot>` like docker mode's `<service>-<number>`.
Commands about one container go to the engine that runs it (RoutingDocker).
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
from typing import Any

from shopnet_docker import names
from shopnet_docker.engine import Docker
from shopnet_docker.stack import Container, Stack, _container

STACK_LABEL = "com.docker.stack.namespace"
TASK_LABEL = "com.docker.swarm.task.name"
"""`<stack>_<service>.<slot>.<task id>`"""


@dataclasses.dataclass(frozen=True, slots=True)
class Task(Container):
    node: int = 1
    """The swarm node whose engine runs it (1: this host's engine)."""


class RoutingDocker(Docker):
    """This host's client, sending commands that name a node-2 container to node 2."""

    def __init__(self, binary: str | None = None) -> None:
        super().__init__(binary)
        self.node2: Docker | None = None
        self.remote: set[str] = set()
        """Names and ids of the containers node 2 runs (as last listed)."""

    def run(self, *args: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
        if self.node2 is not None and self.remote.intersection(args):
            return self.node2.run(*args, **kwargs)
        return super().run(*args, **kwargs)

    def argv(self, container: str) -> list[str]:
        """argv prefix of a command about `container` (exec, logs) on the right engine."""
        if self.node2 is not None and container in self.remote:
            return [self.binary, "--host", self.node2.host]
        return [self.binary]


class SwarmStack(Stack):
    def __init__(self, docker: RoutingDocker, stack: str) -> None:
        super().__init__(docker, stack)
        self.routing = docker

    def _filters(self) -> list[str]:
        return [
            "--filter", f"label={STACK_LABEL}={self.project}",
            "--filter", f"label={names.LABEL_STACK}={self.project}",
        ]  # fmt: skip

    def engines(self) -> list[tuple[int, Docker]]:
        found: list[tuple[int, Docker]] = [(1, Docker(self.docker.binary))]
        if self.routing.node2 is not None:
            found.append((2, self.routing.node2))
        return found

    def containers(self) -> list[Container]:
        tiers = {n.name: n.tier for n in self.networks()}
        found: list[Task] = []
        remote: set[str] = set()
        for node, engine in self.engines():
            out = engine.run("ps", "-a", "-q", "--no-trunc", *self._filters(),
                             what="listing containers", check=False)  # fmt: skip
            ids = out.stdout.split()
            if not ids:
                continue
            inspected = engine.run("container", "inspect", *ids, what="inspect", check=False)
            for data in _json_list(inspected.stdout):
                task = _task(data, tiers, node)
                found.append(task)
                if node == 2:
                    remote.update({task.id, task.name})
        self.routing.remote = remote
        # Swarm replaces a failed task with a new container; show each slot's newest.
        newest: dict[str, Task] = {}
        for task in sorted(found, key=lambda t: (t.running, t.pid)):
            newest[task.instance] = task
        return sorted(newest.values(), key=lambda c: (c.service, c.number))


def _task(data: dict[str, Any], tiers: dict[str, str], node: int) -> Task:
    base = _container(data, tiers)
    labels = data["Config"].get("Labels") or {}
    slot = labels.get(TASK_LABEL, "").split(".")
    number = int(slot[1]) if len(slot) == 3 and slot[1].isdigit() else 1
    fields = {f.name: getattr(base, f.name) for f in dataclasses.fields(Container)}
    return Task(**{**fields, "number": number, "node": node})


def _json_list(text: str) -> list[dict[str, Any]]:
    try:
        return json.loads(text or "[]") or []
    except ValueError:
        return []
