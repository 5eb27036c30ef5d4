"""The driver interface every mode implements: the life cycle (up, down, status, exec,
logs), and the registry of drivers.

A mode (shopnet.topology.modes) is a driver behind this small interface, chosen by
name and imported lazily: pyroute2 is only needed for netns, a Docker client only
for docker. What a driver can do beyond it (netem, capture, isolation, backups, the
bench's hooks) are the protocols of shopnet.runtime.capabilities. The CLI is thin:
it parses options and calls these methods.
"""

from __future__ import annotations

import abc
import importlib
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from shopnet.errors import ConfigError, DriverError, PreflightError, StateError
from shopnet.runtime.probe import get_json
from shopnet.runtime.progress import Progress
from shopnet.runtime.state import Layout, StackState
from shopnet.runtime.variant import Variant, resolve
from shopnet.topology.model import Topology, Wiring
from shopnet.topology.modes import MODES

DRIVERS = {name: mode.driver for name, mode in MODES.items()}
"""Mode → its driver's `module:Class` (declared with the mode, shopnet.topology.modes)."""

EXTRAS = {"pyroute2": "netns"}
"""Optional dependency → the pyproject extra that installs it."""


class MissingExtra(PreflightError):
    """A mode's optional dependencies are not installed."""


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
    host: str = ""
    """The simulated host it runs on (netns `--hosts N`); empty on a single host."""
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


@dataclass(frozen=True, slots=True)
class EntryPoint:
    """A way into a running stack that the bench measures."""

    name: str
    """Path name in results: gateway, gateway-direct, docker-proxy …"""
    url: str
    main: bool = False
    """The path every mode shares (through the published port: the comparison's headline)."""


class Driver(abc.ABC):
    """One way to run the stack.

    `up` is the same skeleton in every mode, and backends implement only its hooks:

        refuse_leftovers → preflight(scale) → start → wait_ready → smoke test → phase "up"

    Anything that fails after preflight rolls back once: `down()` (the data stays),
    the original error re-raised with what `down()` could not remove noted on it.
    """

    mode: ClassVar[str]
    smoke_timeout: ClassVar[float] = 60.0
    """How long the gateway gets to serve /api/products once every instance is ready."""

    host_reaches_instances: ClassVar[bool] = True
    """Whether the host can connect to an instance's address (not through overlays: swarm)."""

    def __init__(
        self,
        *,
        topology: Topology,
        root: Path,
        progress: Progress,
        variant: Variant | None = None,
    ) -> None:
        self.topology = topology
        self.layout = Layout(root / self.mode)
        self.progress = progress
        self.notes: list[str] = []
        """Things `up` wants the user to know (e.g. limits the kernel could not apply)."""
        self._variant = variant

    @property
    def variant(self) -> Variant:
        """The variant asked for, else the running stack's (its state), else the default."""
        if self._variant is None:
            state = self.state_or_none()
            extra = state.extra if state is not None else {}
            self._variant = resolve(
                self.topology,
                self.mode,
                extra.get("wiring"),
                extra.get("discovery"),
                extra.get("hosts"),
            )
        return self._variant

    @property
    def wiring(self) -> Wiring | None:
        return self.variant.wiring

    def describe_variant(self) -> str:
        """`netns stack, wiring attached, discovery registry`: what status and isolation say."""
        wiring = self.wiring.value if self.wiring is not None else "none (loopback)"
        hosts = f", {self.variant.hosts} hosts" if self.variant.hosts > 1 else ""
        return f"{self.mode} stack, wiring {wiring}, discovery {self.variant.discovery}{hosts}"

    # -- the lifecycle ----------------------------------------------------------

    def up(self, *, scale: dict[str, int], build: bool = False) -> UpResult:
        """Start the stack and wait until every instance is ready (`build`: rebuild images)."""
        discoveries = MODES[self.mode].discoveries
        if self.variant.discovery not in discoveries:
            offered = ", ".join(discoveries)
            raise ConfigError(
                f"{self.mode} mode cannot discover by {self.variant.discovery} (it offers {offered})"
            )
        self.refuse_leftovers()
        self.preflight(scale, build=build)
        state = StackState(mode=self.mode, scale=dict(scale), gateway_url=self.gateway_url)
        state.extra.update(wiring=self.wiring, discovery=self.variant.discovery)
        if self.variant.hosts > 1:
            state.extra["hosts"] = self.variant.hosts
        self.layout.prepare()
        state.save(self.layout)
        try:
            self.start(state)
            self.wait_ready(state)
            self.smoke_test()
            self.mark_up(state)
        except BaseException as error:
            # Nothing half-started may outlive a failed (or interrupted) `up`.
            self.roll_back(error)
            raise
        state.phase = "up"
        state.save(self.layout)
        return UpResult(
            gateway_url=self.gateway_url,
            instances=tuple(r.name for r in state.instances),
            notes=tuple(self.notes),
        )

    def refuse_leftovers(self) -> None:
        """StateError when a stack of this mode runs, or a crashed one left something behind."""
        state = self.state_or_none()
        found = self.leftovers()
        if state is not None and state.phase == "up" and self.running():
            raise StateError(
                f"a {self.mode} stack is already running ({state.gateway_url or self.gateway_url}); "
                "run `shopnet down` first"
            )
        if found or state is not None or self.layout.state_file.exists():
            raise StateError(self.leftovers_message(found))

    def smoke_test(self) -> None:
        """Until the gateway serves a product list through the published port (or the deadline)."""
        url = f"{self.gateway_url}/api/products?page_size=1"
        with self.progress.step(f"checking {self.gateway_url}/api/products end to end"):
            deadline = time.monotonic() + self.smoke_timeout
            while True:
                body = get_json(url, timeout=5.0, ok_only=True)
                if isinstance(body, dict) and "items" in body:
                    return
                if time.monotonic() > deadline:
                    raise DriverError(
                        f"the gateway at {self.gateway_url} does not serve /api/products "
                        f"after {self.smoke_timeout:.0f}s"
                    )
                time.sleep(0.25)

    def roll_back(self, error: BaseException) -> None:
        """`down()` after a failed `up`; `error` stays the one raised, annotated with the rest."""
        self.progress.warn("start-up failed; removing everything that was started")
        try:
            result = self.down()
        except Exception as cleanup:  # the original error matters more
            note = f"cleanup failed too: {cleanup}; run `shopnet down --mode {self.mode}`"
            self.progress.warn(note)
            error.add_note(note)
            return
        for problem in result.problems:
            self.progress.warn(problem)
            error.add_note(f"not removed: {problem}")

    # -- hooks of `up` ------------------------------------------------------------

    @property
    @abc.abstractmethod
    def gateway_url(self) -> str:
        """Where users reach the gateway (the published port)."""

    def running(self) -> bool:
        """Whether instances of this mode's stack run now."""
        return False

    def leftovers(self) -> list[str]:
        """What of an earlier run still exists, in words (refuse_leftovers names it)."""
        return []

    def leftovers_message(self, found: list[str]) -> str:
        shown = ", ".join(found[:3]) + (" …" if len(found) > 3 else "")
        return (
            f"leftovers of an earlier {self.mode} run ({shown or self.layout.state_file}); "
            f"run `shopnet down --mode {self.mode}` first"
        )

    def preflight(self, scale: dict[str, int], *, build: bool) -> None:
        """Checks (and image builds) before anything of the stack exists: PreflightError."""
        return None

    @abc.abstractmethod
    def start(self, state: StackState) -> None:
        """Create the stack for `state.scale`, recording instances in `state` as they start."""

    def wait_ready(self, state: StackState) -> None:
        """Until every instance is ready (e.g. registered), after `start`."""
        return None

    def mark_up(self, state: StackState) -> None:
        """Last facts into the state before it is saved with phase "up"."""
        return None

    # -- the other verbs ----------------------------------------------------------

    def state(self) -> StackState | None:
        return StackState.load(self.layout)

    def state_or_none(self) -> StackState | None:
        """The state, or None when there is none or it is unreadable (down still converges)."""
        try:
            return self.state()
        except StateError:
            return None

    def require_state(self) -> StackState:
        state = self.state()
        if state is None:
            raise StateError(
                f"no {self.mode} stack is running (start one with `shopnet up --mode {self.mode}`)"
            )
        return state

    def present(self) -> bool:
        """Whether anything of this mode's stack exists (state, processes, leftovers)."""
        return self.layout.state_file.exists() or any(self.layout.pids.glob("*.pid"))

    def has_data(self) -> bool:
        """Whether data a `down --volumes` would delete exists (with or without a stack)."""
        return self.layout.data.exists()

    @abc.abstractmethod
    def down(self, *, volumes: bool = False) -> DownResult:
        """Remove everything of ours, and with `volumes` the data too, whether or not a
        stack runs; idempotent, converges after any crash."""

    @abc.abstractmethod
    def status(self, *, usage: bool = True) -> list[InstanceStatus]:
        """One row per instance. `usage` False: no CPU and memory figures, which take a
        sample over time (docker: `docker stats`, about two seconds a call) — what a
        caller polling for health does not need."""

    @abc.abstractmethod
    def exec(self, instance: str, argv: list[str]) -> int:
        """Run a command where the instance runs (its namespace or container)."""

    def exec_note(self, instance: str, argv: list[str]) -> str:
        """Who and where `exec` runs `argv` as, in one line (the CLI shows it first)."""
        import getpass

        return (
            f"as {getpass.getuser()} (uid {os.geteuid()}) on the host: {self.mode} mode "
            "has no namespace of its own"
        )

    @abc.abstractmethod
    def log_path(self, instance: str) -> Path | None:
        """The instance's log file, or None when the mode keeps logs elsewhere."""

    def logs(self, instance: str, *, follow: bool) -> int:
        from shopnet.runtime.logs import show

        path = self.log_path(instance)
        if path is None:
            raise ConfigError(f"{self.mode} mode has no log file for {instance}")
        return show(path, follow=follow)


def driver_class(mode: str) -> type[Driver]:
    """The driver for `mode`, imported on first use."""
    try:
        target = DRIVERS[mode]
    except KeyError:
        raise ConfigError(f"unknown mode {mode!r}; supported: {', '.join(DRIVERS)}") from None
    module, _, name = target.partition(":")
    try:
        driver: type[Driver] = getattr(importlib.import_module(module), name)
    except ModuleNotFoundError as exc:
        extra = EXTRAS.get((exc.name or "").partition(".")[0])
        if extra is None:
            raise
        raise MissingExtra(
            f"{mode} mode needs the {extra!r} extra: pip install 'shopnet[{extra}]'"
        ) from None
    return driver


def make_driver(
    mode: str,
    *,
    topology: Topology,
    root: Path,
    progress: Progress,
    variant: Variant | None = None,
) -> Driver:
    """`variant` None: the running stack's (status, down …), else the mode's default."""
    return driver_class(mode)(topology=topology, root=root, progress=progress, variant=variant)
