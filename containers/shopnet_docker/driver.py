"""The docker mode: `shopnet up --mode docker` and the other verbs, on compose and the docker CLI.

The lifecycle is shopnet.runtime.base.Driver's; this class only fills in its hooks,
one module per phase:

    preflight.py  engine, compose, host ports, subnets, database volume, images
    startup.py    `compose up -d` → every container healthy → every instance registered
    teardown.py   `compose down --remove-orphans` [--volumes], then whatever still carries
                  our labels; idempotent, and never touches anything without them
    status.py     per container: address, health (/ready for our services), CPU %, memory
    tiers.py      capture and netem on a tier's bridge and veths (shopnet.hostnet)
    backup.py     pg_dump / psql inside the database container, cache flushes by prefix
    settings.py   what the environment picks: images (SHOPNET_DOCKER_IMAGES), second port

The engine is passed in (`Docker(binary)`, engine.py): another engine that speaks
the docker CLI and compose (podman, say) is a subclass with its own `engine_class`.

State lives in <state-dir>/docker: state.json, the rendered compose.yaml, compose's
output (compose.log), and in data/ the stack's secrets (secretfiles.py: the database
superuser's password, each service's own credentials, the tokens), which are kept with
the data (the `pgdata` volume); `down --volumes` removes both.
"""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar

from shopnet.errors import ShopnetError, StateError
from shopnet.hostnet.ratelimit import Rate
from shopnet.runtime import backup as pg_backup
from shopnet.runtime import nofollow, ports
from shopnet.runtime.base import DownResult, Driver, EntryPoint, InstanceStatus
from shopnet.runtime.confine import secret_store
from shopnet.runtime.progress import Progress
from shopnet.runtime.state import StackState
from shopnet.runtime.users import User
from shopnet.runtime.variant import Variant
from shopnet.topology.model import Service, Topology
from shopnet.trace.route import Place, TraceRoute
from shopnet_docker import (
    backup,
    names,
    preflight,
    secretfiles,
    settings,
    startup,
    status,
    teardown,
    tiers,
)
from shopnet_docker import images as image_build
from shopnet_docker.compose import render
from shopnet_docker.engine import Docker
from shopnet_docker.project import ComposeFile, Project
from shopnet_docker.settings import IMAGES_ENV
from shopnet_docker.stack import Container, Stack

__all__ = ["IMAGES_ENV", "DockerDriver"]


class ContainerDriver(Driver):
    """What the docker and swarm modes share: a stack of containers of one engine, with
    the secrets, status, exec, logs, isolation, backup and the bench's hooks of docker mode.
    A mode is a subclass that says how the stack starts and goes (DockerDriver: compose)."""

    engine_class: ClassVar[type[Docker]] = Docker
    """The container engine's client; a subclass for another engine names its own."""

    def __init__(
        self,
        *,
        topology: Topology,
        root: Path,
        progress: Progress,
        variant: Variant | None = None,
        engine: Docker | None = None,
    ) -> None:
        super().__init__(topology=topology, root=root, progress=progress, variant=variant)
        self.project = topology.prefix
        self.docker = engine or self.engine_class()
        self.stack = Stack(self.docker, self.project)

    # -- facts ----------------------------------------------------------------

    def parts(self) -> Project:
        """What docker's phase modules work on (the stack, its engine, files and wiring)."""
        return Project(
            self.project, self.topology, self.layout, self.docker, self.stack, self.progress,
            lambda: self.wiring,
        )  # fmt: skip

    @property
    def gateway_url(self) -> str:
        return f"http://127.0.0.1:{self.topology.published_port}"

    def _compose_env(self, *, password: bool) -> dict[str, str]:
        """`password`: make the secret files first (for `up`)."""
        env = settings.compose_env(self.topology)
        # Paths, never secrets: compose mounts the files as secrets (see compose.py).
        env[secretfiles.VAR_SECRETS_DIR] = str(secret_store(self.layout).dir)
        if password:
            self._write_secrets()
        return env

    def _users(self) -> Callable[[Service], User]:
        """Who each service's containers run as: the owner of its secret files."""
        cache = self.layout.dir / "image-users.json"
        return secretfiles.container_users(self.docker, settings.images(), cache)

    def _write_secrets(self) -> None:
        secretfiles.write(
            secret_store(self.layout),
            self.topology,
            superuser_password=self.layout.db_password(),
            user_of=self._users(),
        )

    def present(self) -> bool:
        if self.layout.state_file.exists():
            return True
        try:
            self.docker.ping(timeout=5.0)
            return bool(self.stack.containers() or self.stack.networks())
        except ShopnetError:
            return False

    def has_data(self) -> bool:
        if self.layout.data.exists():
            return True
        try:
            self.docker.ping(timeout=5.0)
            return bool(self.stack.volumes())
        except ShopnetError:
            return False

    # -- the hooks of `up` ----------------------------------------------------

    def running(self) -> bool:
        return any(c.running for c in self.stack.containers())

    def leftovers(self) -> list[str]:
        self.docker.ping()  # before asking the engine anything: why it cannot answer
        found = [f"container {c.name}" for c in self.stack.containers()]
        return found + [f"network {n.name}" for n in self.stack.networks()]

    # -- the other verbs ------------------------------------------------------

    def _containers_or_fail(self) -> list[Container]:
        self.docker.ping()
        containers = self.stack.containers()
        if not containers:
            raise StateError(
                "no docker stack is running (start one with `shopnet up --mode docker`)"
            )
        return containers

    def status(self, *, usage: bool = True) -> list[InstanceStatus]:
        return status.rows(self.docker, self.topology, self._containers_or_fail(), usage=usage)

    def isolation(self) -> tuple[str, bool]:
        from shopnet_docker import isolation

        # No wiring (swarm: one overlay per tier) reads as tiered.
        cells = isolation.matrix(
            self.docker, self.topology, self._containers_or_fail(), self.wiring
        )
        return isolation.format_matrix(cells), all(c.ok for c in cells)

    def exec(self, instance: str, argv: list[str]) -> int:
        from shopnet_docker import execute

        self.docker.ping()
        container = self.stack.container(instance)
        return execute.run(self.engine_argv(container.name), container.name, container.pid, argv)

    def exec_note(self, instance: str, argv: list[str]) -> str:
        from shopnet_docker import execute

        container = self.stack.container(instance)
        return execute.note(self.engine_argv(container.name), container.name, instance, argv)

    def engine_argv(self, container: str) -> list[str]:
        """argv prefix of a docker command about `container` (the engine that runs it)."""
        return [self.docker.binary]

    def log_path(self, instance: str) -> Path | None:
        return None  # Docker keeps the logs: `shopnet logs` reads them with `docker logs`

    def logs(self, instance: str, *, follow: bool) -> int:
        self.docker.ping()
        container = self.stack.container(instance)
        engine = self.engine_argv(container.name)
        argv = [*engine, "logs", *(["--follow"] if follow else []), container.name]
        return subprocess.run(argv, check=False).returncode

    def backup(self, path: Path) -> str:
        return backup.backup(self.parts(), path)

    def restore(self, path: Path) -> str:
        return backup.restore(self.parts(), path)

    def tier_segments(self) -> dict[str, str]:
        """Each tier's network as the engine has it; the topology's plan while none is up."""
        try:
            networks = {n.tier: n for n in self.stack.networks()}
        except (ShopnetError, OSError):  # the engine is away: the plan's names
            networks = {}
        return {
            t.name: f"{networks[t.name].name} · {networks[t.name].subnet}"
            if t.name in networks
            else f"{self.topology.prefix}_{t.name} · {t.subnet}"
            for t in self.topology.tiers
        }

    # -- what the bench needs -------------------------------------------------

    def cache_flusher(
        self, rows: list[InstanceStatus]
    ) -> contextlib.AbstractContextManager[Callable[[], None] | None]:
        return pg_backup.host_cache_flusher(self.layout, self.topology, rows)

    def entry_points(self, rows: list[InstanceStatus]) -> list[EntryPoint]:
        """Docker's iptables DNAT (from the host's own address) and docker-proxy (loopback)."""
        port = self.topology.published_port
        return [
            EntryPoint("gateway", f"http://{ports.host_address()}:{port}", main=True),
            EntryPoint("docker-proxy", f"http://127.0.0.1:{port}"),
        ]


class DockerDriver(ContainerDriver):
    mode = "docker"

    # -- capture, netem (tiers.py) ---------------------------------------------

    def trace_route(self, source: str, target: str, port: int | None) -> TraceRoute:
        from shopnet_docker import tracepath

        return tracepath.route(
            topology=self.topology, containers=self._containers_or_fail(),
            networks=self.stack.networks(), wiring=self.wiring, source=source, target=target,
            port=port, mode=self.describe_variant(),
        )  # fmt: skip

    def trace_prefix(self) -> str:
        return self.project

    def trace_places(self) -> list[Place]:
        running = [c for c in self.stack.containers() if c.running and c.pid]
        return [Place("host", None), *(Place(c.instance, f"/proc/{c.pid}/ns/net") for c in running)]

    def capture(self, tier: str, *, count: int | None, seconds: float | None, output: Path) -> str:
        return tiers.capture(self.parts(), tier, count=count, seconds=seconds, output=output)

    def netem(
        self, tier: str, *, delay_ms: float, loss_pct: float, clear: bool, rate: Rate | None = None
    ) -> str:
        return tiers.netem(
            self.parts(), tier, delay_ms=delay_ms, loss_pct=loss_pct, clear=clear, rate=rate
        )

    def _remove_loss_tables(self) -> list[str]:
        return tiers.remove_loss_tables(self.parts())

    # -- compose: the stack's file, `up` and `down` ------------------------------

    @property
    def compose_file(self) -> Path:
        return self.layout.dir / "compose.yaml"

    @property
    def compose_log(self) -> Path:
        return self.layout.dir / "compose.log"

    def _compose(self) -> ComposeFile:
        return ComposeFile(
            self.compose_file,
            self.compose_log,
            lambda password: self._compose_env(password=password),
            self._write_compose_file,
        )

    def _write_compose_file(self) -> None:
        self.layout.dir.mkdir(parents=True, exist_ok=True)
        context = str(image_build.SOURCE_ROOT)
        nofollow.write_private_file(
            self.compose_file,
            render(
                self.topology,
                build_context=context,
                wiring=self.wiring,
                discovery=self.variant.discovery,
            ),
        )

    def preflight(self, scale: dict[str, int], *, build: bool) -> None:
        names.project(self.project)  # a prefix compose cannot use fails before anything runs
        settings.images()  # so does a bad SHOPNET_DOCKER_IMAGES
        self.docker.compose_command()
        preflight.check_ports(self.topology)
        preflight.check_subnets(self.topology, self.project, self.wiring)
        preflight.check_volume(self.stack, self.layout)
        preflight.ensure_images(self.docker, self.progress, build=build)

    def start(self, state: StackState) -> None:
        self._write_compose_file()
        chosen = settings.images()
        state.extra.update(
            project=self.project,
            compose_file=str(self.compose_file),
            compose=self.docker.compose_command(),
            images=[chosen.service, chosen.redis, chosen.postgres],
        )
        state.save(self.layout)
        startup.start(self.parts(), self._compose(), self._expected(state))

    def wait_ready(self, state: StackState) -> None:
        startup.wait_registered(self.parts(), state.scale)

    def mark_up(self, state: StackState) -> None:
        containers = status.ordered(self.topology, self.stack.containers())
        state.instances = [status.record_of(self.topology, c) for c in containers]
        self.notes.append(f"compose file: {self.compose_file} (project {self.project})")
        compat = settings.compat_port(self.topology)
        if compat:
            self.notes.insert(0, f"the gateway is also published on http://127.0.0.1:{compat}")

    def _expected(self, state: StackState) -> dict[str, int]:
        return {s.name: state.scale.get(s.name, 1) for s in self.topology.services}

    def down(self, *, volumes: bool = False) -> DownResult:
        result = teardown.down(self.parts(), self._compose(), volumes=volumes)
        self.layout.lab_file.unlink(missing_ok=True)  # its fault went with the containers
        return result
