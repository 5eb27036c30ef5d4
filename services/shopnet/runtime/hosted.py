"""What local and netns modes share: the stack runs as processes on this host.

The two differ only in where instances are placed (loopback ports vs. their own
namespaces and addresses) and in the network they need around them; `up`,
`down`, `status`, `backup` and `restore` are the same code.
"""

from __future__ import annotations

import abc
import shutil
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

from shopnet.errors import StateError
from shopnet.runtime import backup as pg_backup
from shopnet.runtime import datastores, process, procinfo
from shopnet.runtime.base import DownResult, Driver, InstanceStatus, UpResult
from shopnet.runtime.confine import Confinement, redis_auth
from shopnet.runtime.launch import Launcher, Placement
from shopnet.runtime.probe import get_json
from shopnet.runtime.state import InstanceRecord, StackState
from shopnet.topology.model import Kind

REQUIRED_BINARIES = ("redis-server", "postgres", "initdb", "pg_isready")


class HostedDriver(Driver):
    """A driver whose instances are processes started by us on this host."""

    # -- what a mode decides --------------------------------------------------

    has_network = False
    """Whether build_network/teardown_network do anything (netns: yes; local: no)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.notes: list[str] = []
        """Things `up` wants the user to know (e.g. limits the kernel could not apply)."""

    @abc.abstractmethod
    def placements(self, scale: dict[str, int]) -> list[Placement]:
        """Where each instance of the plan runs, in start order."""

    def preflight(self, placements: list[Placement]) -> None:
        """Mode-specific checks before anything is created (raise PreflightError)."""

    def build_network(self, state: StackState, placements: list[Placement]) -> None:
        """Create what the instances need around them (nothing in local mode)."""

    def teardown_network(self, state: StackState | None) -> tuple[list[str], list[str]]:
        """Remove it again: (removed, problems). Must work from any partial state."""
        return [], []

    def enter_placement(self, placement: Placement) -> Callable[[], None] | None:
        """Prepare a new instance process's place (netns: cgroups) and say how the child enters it."""
        return placement.enter

    def enter_for(self, record: InstanceRecord) -> Callable[[], None] | None:
        """What a child runs before exec to be where `record` runs (netns: join its namespace)."""
        return None

    @property
    def gateway_url(self) -> str:
        raise NotImplementedError

    # -- the shared verbs -----------------------------------------------------

    def up(self, *, scale: dict[str, int], build: bool = False) -> UpResult:
        self._refuse_existing()
        placements = self.placements(scale)
        for binary in REQUIRED_BINARIES:
            datastores.find_binary(binary)
        self.preflight(placements)

        self.layout.prepare()
        state = StackState(mode=self.mode, scale=scale, gateway_url=self.gateway_url)
        state.save(self.layout)
        try:
            if self.has_network:
                with self.progress.step("building the network"):
                    self.build_network(state, placements)
                    state.save(self.layout)
            Launcher(
                topology=self.topology,
                layout=self.layout,
                state=state,
                progress=self.progress,
                placements=placements,
                enter_for=self.enter_placement,
            ).start_all()
            with self.progress.step(f"checking {self.gateway_url}/api/products end to end"):
                self._smoke_test()
        except BaseException:
            # Nothing half-started may outlive a failed (or interrupted) `up`.
            self.progress.warn("start-up failed; removing everything that was started")
            self.down()
            raise
        state.phase = "up"
        state.save(self.layout)
        return UpResult(
            gateway_url=self.gateway_url,
            instances=tuple(p.name for p in placements),
            notes=tuple(self.notes),
        )

    def down(self, *, volumes: bool = False) -> DownResult:
        state = self.state_or_none()
        removed: list[str] = []
        records = {r.pid: r.instance for r in process.records(self.layout.pids)}
        hard = process.stop_all(self.layout.pids, owner=str(self.layout.dir))
        removed += [f"process {name} (pid {pid})" for pid, name in sorted(records.items())]
        problems = [f"{name} ignored its stop signal and was killed" for name in hard]
        net_removed, net_problems = self.teardown_network(state)
        removed += net_removed
        problems += net_problems
        self.layout.state_file.unlink(missing_ok=True)
        if volumes and self.layout.data.exists():
            try:
                shutil.rmtree(self.layout.data)
                removed.append(f"data in {self.layout.data}")
            except OSError as exc:
                problems.append(f"could not remove all data in {self.layout.data}: {exc}")
        return DownResult(removed=tuple(removed), problems=tuple(problems))

    def status(self) -> list[InstanceStatus]:
        state = self._require_state()
        pids = {r.instance: r.pid for r in process.records(self.layout.pids)}
        usage = procinfo.usage(pids.values())
        rows = []
        for record in state.instances:
            pid = pids.get(record.name)
            cpu, mem = usage.get(pid, (None, None)) if pid else (None, None)
            rows.append(
                InstanceStatus(
                    service=record.service,
                    instance=record.name,
                    address=f"{record.address}:{record.port}",
                    pid=pid,
                    health=self._health(record.service, record.address, record.port, pid),
                    where=record.namespace or "",
                    listening=self.listening(record.name, pid),
                    cpu_percent=cpu,
                    memory_mb=mem,
                )
            )
        return rows

    def listening(self, instance: str, pid: int | None) -> tuple[str, ...]:
        return ()

    def run_beside(self, instance: str, spec: process.ProcessSpec) -> int:
        record = self._require_state().instance(instance)
        return process.spawn(
            spec, owner=str(self.layout.dir), pid_dir=self.layout.pids, enter=self.enter_for(record)
        )

    def log_path(self, instance: str) -> Path | None:
        state = self.state_or_none()
        if state is not None:
            state.instance(instance)  # unknown names fail with the list of known ones
        return self.layout.log(instance)

    def backup(self, path: Path) -> str:
        record = self._require_state().instance("postgres-1")
        return pg_backup.backup(
            path, host=record.address, port=record.port, password=self.layout.db_password()
        )

    def restore(self, path: Path) -> str:
        state = self._require_state()
        record = state.instance("postgres-1")
        message = pg_backup.restore(
            path, host=record.address, port=record.port, password=self.layout.db_password()
        )
        # pg_dump's SQL recreates the tables as the superuser: hand them back to their owners.
        Confinement(self.layout).grant_postgres(
            host=record.address, port=record.port, services=list(self.topology.services)
        )
        redis = state.instance("redis-1")
        datastores.redis_command(
            redis.address, redis.port, "FLUSHALL", auth=redis_auth(self.layout)
        )
        return message + "; product cache flushed"

    # -- helpers --------------------------------------------------------------

    def state_or_none(self) -> StackState | None:
        try:
            return self.state()
        except StateError:
            return None

    def _require_state(self) -> StackState:
        state = self.state()
        if state is None:
            raise StateError(
                f"no {self.mode} stack is running (start one with `shopnet up --mode {self.mode}`)"
            )
        return state

    def _refuse_existing(self) -> None:
        state = self.state_or_none()
        running = process.records(self.layout.pids) if self.layout.pids.exists() else []
        if state is not None and state.phase == "up" and running:
            raise StateError(
                f"a {self.mode} stack is already running ({self.gateway_url}); "
                "run `shopnet down` first"
            )
        if state is not None or running:
            raise StateError(
                f"leftovers of a crashed run in {self.layout.dir}; run `shopnet down` first"
            )

    def _health(self, service: str, address: str, port: int, pid: int | None) -> str:
        if pid is None:
            return "down"
        if self.topology.service(service).kind is Kind.DATASTORE:
            return "ready" if _port_open(address, port) else "unavailable"
        body = get_json(f"http://{address}:{port}/ready")
        return body.get("status", "unknown") if isinstance(body, dict) else "unavailable"

    def _smoke_test(self) -> None:
        body = get_json(f"{self.gateway_url}/api/products?page_size=1", timeout=5.0, ok_only=True)
        if not isinstance(body, dict) or "items" not in body:
            raise StateError(f"the gateway at {self.gateway_url} does not serve /api/products")


def _port_open(address: str, port: int) -> bool:
    try:
        with socket.create_connection((address, port), timeout=0.5):
            return True
    except OSError:
        return False
