"""The swarm mode: `shopnet up --mode swarm`, the docker mode's driver on a two-node swarm.

SwarmDriver is docker mode's ContainerDriver with four things swapped: the objects it finds
(tasks.SwarmStack: Swarm's stack labels, containers on both nodes), how the
stack starts (nodes.py: a second dockerd in a namespace of ours, `swarm init`,
then `docker stack deploy` of stackfile.py's file, each node answering for the
tiers' subnets: tierroutes.py), how it is probed (inside the containers: the
overlays are not reachable from the host; readiness.py waits that way, and the
bench's cache flush is sent that way: cacheflush.py) and how `down` converges
(teardown.py). Status, exec, logs, isolation, backup and restore are
docker mode's, with each command sent to the engine that runs the container.

State lives in <state-dir>/swarm: state.json, stack.yaml, dockerd-n2.log and
node 2's data root (`node2/`), removed by `down` (the log too, once node 2 is gone).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from pathlib import Path

from shopnet.errors import DriverError, ShopnetError
from shopnet.runtime import nofollow, ports
from shopnet.runtime.base import DownResult, InstanceStatus
from shopnet.runtime.progress import Progress
from shopnet.runtime.state import StackState
from shopnet.runtime.variant import Variant
from shopnet.topology.model import Kind, Topology
from shopnet_docker import names, preflight, settings
from shopnet_docker import status as docker_status
from shopnet_docker.driver import ContainerDriver
from shopnet_docker.engine import last_lines
from shopnet_docker.stack import Container
from shopnet_swarm import cacheflush, ipsec, nodes, readiness, stackfile, teardown, tierroutes
from shopnet_swarm.tasks import RoutingDocker, SwarmStack, Task

SWARM_HEALTH_INTERVAL = "5s"
"""The compose file's own default: Swarm runs every check itself."""
_FETCH = (
    "import sys,urllib.request as u\n"
    "try: print(u.urlopen(sys.argv[1], timeout=3).read().decode())\n"
    "except Exception as e: print(getattr(e, 'read', lambda: b'null')().decode() or 'null')"
)


class SwarmDriver(ContainerDriver):
    mode = "swarm"
    host_reaches_instances = False  # overlays live in Swarm's namespaces, not the host's

    def __init__(
        self,
        *,
        topology: Topology,
        root: Path,
        progress: Progress,
        variant: Variant | None = None,
    ) -> None:
        routing = RoutingDocker()
        super().__init__(
            topology=topology, root=root, progress=progress, variant=variant, engine=routing
        )
        self.docker: RoutingDocker = routing
        self.project = stackfile.stack_name(topology.prefix)
        self.stack: SwarmStack = SwarmStack(routing, self.project)
        self.node2 = nodes.SecondNode(self.project, self.layout.dir / "node2")
        self._user_of: stackfile.UserOf | None = None
        if self.node2.pid():
            routing.node2 = self.node2.engine(routing)

    @property
    def stack_file(self) -> Path:
        return self.layout.dir / "stack.yaml"

    @property
    def node2_log(self) -> Path:
        return self.layout.dir / "dockerd-n2.log"

    def describe_variant(self) -> str:
        return f"swarm stack (2 nodes, overlays per tier), discovery {self.variant.discovery}"

    def present(self) -> bool:
        if self.node2.present() or tierroutes.claimed(self.topology, self.project):
            return True
        if super().present():
            return True
        try:
            return bool(nodes.our_gwbridge(self.docker, self.project))
        except ShopnetError:  # no engine answers: it holds no network of ours either
            return False

    def leftovers(self) -> list[str]:
        found = super().leftovers() + self.node2.present()
        found += [f"route unreachable {s}" for s in tierroutes.claimed(self.topology, self.project)]
        if nodes.ours(self.docker, self.project):
            found.append("the swarm shopnet created")
        if nodes.our_gwbridge(self.docker, self.project):
            found.append(f"network {nodes.GWBRIDGE} (ours)")
        return found

    # -- up -------------------------------------------------------------------

    def preflight(self, scale: dict[str, int], *, build: bool) -> None:
        names.project(self.topology.prefix)
        settings.images()
        self.docker.ping()
        nodes.refuse_foreign_swarm(self.docker, self.project)
        ports.require_free(self.topology.published_port, what="the gateway's published port")
        tierroutes.refuse_routed(self.topology)
        preflight.check_volume(self.stack, self.layout)
        preflight.ensure_images(self.docker, self.progress, build=build)

    def start(self, state: StackState) -> None:
        chosen = settings.images()
        state.extra.update(stack=self.project, stack_file=str(self.stack_file),
                           images=[chosen.service, chosen.redis, chosen.postgres])  # fmt: skip
        state.save(self.layout)
        with self.progress.step(f"starting node 2 (a dockerd in namespace {self.node2.netns})"):
            self.node2.start(self.docker, self.node2_log)
            self.docker.node2 = self.node2.engine(self.docker)
        with self.progress.step("claiming the tiers' subnets on both nodes (unreachable routes)"):
            tierroutes.claim(self.topology, self.project, self.node2.netns)
        with self.progress.step(f"loading {chosen.service} into node 2"):
            assert self.docker.node2 is not None  # started just above
            nodes.copy_image(self.docker, self.docker.node2, chosen.service)
        with self.progress.step("creating the swarm (this engine: manager; node 2: worker)"):
            nodes.init(self.docker, self.docker.node2, self.project)
        # Encrypted overlays where the kernel has IPsec ESP with AES-GCM; else clear, said why.
        clear = ipsec.unavailable(f"{self.project}-xfrm")
        state.extra["overlays"] = f"unencrypted: {clear}" if clear else "encrypted (IPsec ESP)"
        if clear:
            self.progress.warn(f"overlays not encrypted: {clear}")
            self.notes.append(f"overlays not encrypted: {clear}")
        nofollow.write_private_file(
            self.stack_file,
            stackfile.render(
                self.topology,
                scale=state.scale,
                user_of=self._users(),
                file=str(self.stack_file),
                encrypted=clear is None,
            ),
        )
        with self.progress.step(f"docker stack deploy {self.project}"):
            self._deploy()
        with self.progress.step("waiting until every task runs and is healthy"):
            readiness.wait_replicas(self)

    def _deploy(self) -> None:
        # `never`: the images are local on each node; no registry is asked for digests.
        argv = ["stack", "deploy", "--resolve-image=never", "--compose-file", str(self.stack_file)]
        for attempt in (1, 2):
            nodes.wait_manager(self.docker)
            out = self.docker.run(*argv, self.project, what="docker stack deploy",
                                  env=self._deploy_env(), timeout=120, check=attempt == 2)  # fmt: skip
            # A manager that was active a moment ago can briefly not be (nodes.wait_manager).
            if out.returncode == 0 or "not a swarm manager" not in out.stderr:
                break
        if out.returncode != 0:
            raise DriverError(f"docker stack deploy failed: {last_lines(out.stderr)}")

    def _users(self) -> stackfile.UserOf:
        # `up` asks twice (the secret files, then the stack file): look the users up once.
        if self._user_of is None:
            self._user_of = super()._users()
        return self._user_of

    def _deploy_env(self) -> dict[str, str]:
        # Docker mode's `up` runs each container's first checks itself and leaves Docker's
        # rare; nothing here does, and a task counts as up only once Swarm's own check passed.
        return {
            **self._compose_env(password=True),
            names.VAR_HEALTH_INTERVAL: SWARM_HEALTH_INTERVAL,
        }

    def wait_ready(self, state: StackState) -> None:
        with self.progress.step("waiting until every instance is registered"):
            readiness.wait_registered(self, state.scale)

    def mark_up(self, state: StackState) -> None:
        containers = docker_status.ordered(self.topology, self.stack.containers())
        state.instances = [docker_status.record_of(self.topology, c) for c in containers]
        on_two = sorted({c.instance for c in containers if _node(c) == 2})
        self.notes.append(f"stack file: {self.stack_file} (stack {self.project})")
        self.notes.append(f"on node 2: {', '.join(on_two) or 'nothing'}")

    # -- probes inside containers ---------------------------------------------

    def fetch_inside(self, container: Container, url: str) -> object:
        """JSON at `url` fetched from inside `container` (overlay addresses are not ours)."""
        out = self.docker.run("exec", container.name, "python3", "-I", "-c", _FETCH, url,
                              what="probe", check=False, timeout=15)  # fmt: skip
        try:
            return json.loads(out.stdout or "null")
        except ValueError:
            return None

    def status(self, *, usage: bool = True) -> list[InstanceStatus]:
        containers = docker_status.ordered(self.topology, self._containers_or_fail())
        sampled: dict[str, tuple[float | None, float | None]] = {}
        for number, engine in self.stack.engines():  # `docker stats` fails on a foreign id
            ids = [c.id for c in containers if c.running and _node(c) == number]
            sampled |= docker_status.stats(engine, ids) if usage else {}
        rows = []
        for c in containers:
            cpu, memory = sampled.get(c.id[:12], (None, None))
            record = docker_status.record_of(self.topology, c)
            node = _node(c)
            rows.append(
                InstanceStatus(
                    service=c.service, instance=c.instance,
                    address=f"{record.address}:{record.port}" if record.address else "-",
                    pid=c.pid if node == 1 and c.pid else None, health=self._health(c),
                    where=f"node{node}/{c.name[:40]}", cpu_percent=cpu, memory_mb=memory,
                    restarts=c.restarts, last_exit="" if c.running else f"exit {c.exit_code}",
                )
            )  # fmt: skip
        return rows

    def _health(self, c: Container) -> str:
        if not c.running:
            return "down"
        service = self.topology.service(c.service)
        if service.kind is not Kind.APP:
            return "ready" if c.health == "healthy" else "unavailable"
        port = service.admin_port or service.port
        body = self.fetch_inside(c, f"http://127.0.0.1:{port}/ready")
        status = body.get("status") if isinstance(body, dict) else None
        return status if isinstance(status, str) else "unavailable"

    def engine_argv(self, container: str) -> list[str]:
        if self.docker.node2 is not None and not self.docker.remote:
            self.stack.containers()  # learns which containers node 2 runs
        return self.docker.argv(container)

    def cache_flusher(
        self, rows: list[InstanceStatus]
    ) -> contextlib.AbstractContextManager[Callable[[], None] | None]:
        return cacheflush.flusher(self)  # the host cannot reach an overlay's Redis

    def down(self, *, volumes: bool = False) -> DownResult:
        return teardown.down(self, volumes=volumes)


def _node(c: Container) -> int:
    return c.node if isinstance(c, Task) else 1
