"""The driver interface every mode implements, and the registry of modes.

A mode (local, netns, docker) is a driver behind one small interface, chosen by
name and imported lazily: pyroute2 is only needed for netns, a Docker client
only for docker. The CLI is thin: it parses options and calls these methods.
"""

from __future__ import annotations

import abc
import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from shopnet.errors import ConfigError
from shopnet.runtime.process import ProcessSpec
from shopnet.runtime.progress import Progress
from shopnet.runtime.state import Layout, StackState
from shopnet.topology.model import Topology

DRIVERS = {
    "local": "shopnet.runtime.local:LocalDriver",
    "netns": "shopnet_netns.driver:NetnsDriver",
    "docker": "shopnet_docker.driver:DockerDriver",
}


@dataclass(frozen=True, slots=True)
class InstanceStatus:
    """One row of `shopnet status`."""

    service: str
    instance: str
    address: str
    pid: int | None
    health: str
    """ready / degraded / unavailable / down / unknown."""
    where: str = ""
    """Namespace or container, when the mode has one."""
    listening: tuple[str, ...] = ()
    cpu_percent: float | None = None
    memory_mb: float | None = None
    restarts: int = 0
    """How often it was started again after exiting (supervisor, or Docker's RestartCount)."""
    last_exit: str = ""
    """How its last process ended, e.g. `exit 1`, `signal SIGKILL`; empty if none did."""
    supervision: str = ""
    """running / restarting / gave up / stopped; empty when nothing supervises it."""


@dataclass(frozen=True, slots=True)
class UpResult:
    gateway_url: str
    instances: tuple[str, ...]
    notes: tuple[str, ...] = field(default=())


@dataclass(frozen=True, slots=True)
class DownResult:
    removed: tuple[str, ...]
    """What was found and removed (empty when nothing of ours was there)."""
    problems: tuple[str, ...] = ()
    """What could not be removed; `down` still did everything else."""


class Driver(abc.ABC):
    """One way to run the stack."""

    mode: ClassVar[str]

    def __init__(self, *, topology: Topology, root: Path, progress: Progress) -> None:
        self.topology = topology
        self.layout = Layout(root / self.mode)
        self.progress = progress

    def state(self) -> StackState | None:
        return StackState.load(self.layout)

    def present(self) -> bool:
        """Whether anything of this mode's stack exists (state, processes, leftovers)."""
        return self.layout.state_file.exists() or any(self.layout.pids.glob("*.pid"))

    @abc.abstractmethod
    def up(self, *, scale: dict[str, int], build: bool = False) -> UpResult:
        """Start the stack and wait until every instance is ready (`build`: rebuild images)."""

    @abc.abstractmethod
    def down(self, *, volumes: bool = False) -> DownResult:
        """Remove everything of ours; idempotent, converges after any crash."""

    @abc.abstractmethod
    def status(self) -> list[InstanceStatus]: ...

    @abc.abstractmethod
    def exec(self, instance: str, argv: list[str]) -> int:
        """Run a command where the instance runs (its namespace or container)."""

    @abc.abstractmethod
    def log_path(self, instance: str) -> Path | None:
        """The instance's log file, or None when the mode keeps logs elsewhere."""

    def logs(self, instance: str, *, follow: bool) -> int:
        from shopnet.runtime.logs import show

        path = self.log_path(instance)
        if path is None:
            raise ConfigError(f"{self.mode} mode has no log file for {instance}")
        return show(path, follow=follow)

    def capture(self, tier: str, *, count: int | None, seconds: float | None, output: Path) -> str:
        raise ConfigError(f"capture is not available in {self.mode} mode (no tier bridges)")

    def netem(self, tier: str, *, delay_ms: float, loss_pct: float, clear: bool) -> str:
        raise ConfigError(f"netem is not available in {self.mode} mode (no tier links)")

    def isolation(self) -> tuple[str, bool]:
        """Probe every flow of the topology matrix on the running stack: (printable matrix, all as expected)."""
        raise ConfigError(f"{self.mode} mode has no network isolation to check")

    def run_beside(self, instance: str, spec: ProcessSpec) -> int:
        """Start a helper process where `instance` runs (the bench's nginx peer); `down` stops it."""
        raise ConfigError(f"{self.mode} mode cannot start helper processes beside an instance")

    @abc.abstractmethod
    def backup(self, path: Path) -> str: ...

    @abc.abstractmethod
    def restore(self, path: Path) -> str: ...


def driver_class(mode: str) -> type[Driver]:
    """The driver for `mode`, imported on first use."""
    try:
        target = DRIVERS[mode]
    except KeyError:
        raise ConfigError(f"unknown mode {mode!r}; supported: {', '.join(DRIVERS)}") from None
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)


def make_driver(mode: str, *, topology: Topology, root: Path, progress: Progress) -> Driver:
    return driver_class(mode)(topology=topology, root=root, progress=progress)
