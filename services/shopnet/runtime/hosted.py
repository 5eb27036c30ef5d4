"""What local and netns modes share: the stack runs as processes on this host.

The two differ only in where instances are placed (loopback ports vs. their own
namespaces and addresses) and in the network they need around them; `up`,
`down`, `status`, `backup` and `restore` are the same code.
"""

from __future__ import annotations

import abc
import contextlib
import shutil
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

from shopnet.errors import StateError
from shopnet.runtime import backup as pg_backup
from shopnet.runtime import datastores, process, procinfo, sandbox, supervisor
from shopnet.runtime.base import DownResult, Driver, InstanceStatus
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

    @abc.abstractmethod
    def placements(self, scale: dict[str, int]) -> list[Placement]:
        """Where each instance of the plan runs, in start order."""

    def check_placements(self, scale: dict[str, int], placements: list[Placement]) -> None:
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

    def enter_for_restart(self, record: InstanceRecord) -> Callable[[], None] | None:
        """Like enter_for, for the instance's own process started again (netns: its cgroups too)."""
        return self.enter_for(record)

    def oom_kills(self, record: InstanceRecord) -> int | None:
        """How many processes the kernel's OOM killer ended in the instance's memory cgroup
        so far (netns); None where the mode has no such count (the supervisor then names
        the exit by its signal alone)."""
        return None

    # -- the hooks of `up` ------------------------------------------------------

    def running(self) -> bool:
        return bool(self._pid_records())

    def leftovers(self) -> list[str]:
        return [f"process {r.instance} (pid {r.pid})" for r in self._pid_records()]

    def refuse_leftovers(self) -> None:
        state = self.state_or_none()
        if (
            state is not None
            and state.phase == "up"
            and self.running()
            and not supervisor.running(self.layout)
        ):
            supervisor.start(self, state.topology)  # it was killed: adopt the stack again
            raise StateError(
                f"a {self.mode} stack is already running ({self.gateway_url}); its supervisor "
                "was not running and has been started again"
            )
        super().refuse_leftovers()

    def mark_up(self, state: StackState) -> None:
        # From now on a crashed instance comes back, as Docker's `unless-stopped` does.
        supervisor.start(self, state.topology)

    def leftovers_message(self, found: list[str]) -> str:
        return f"leftovers of a crashed run in {self.layout.dir}; run `shopnet down` first"

    def preflight(self, scale: dict[str, int], *, build: bool) -> None:
        placements = self.placements(scale)
        for binary in REQUIRED_BINARIES:
            datastores.find_binary(binary)
        sandbox.require_filter()
        self.check_placements(scale, placements)

    def start(self, state: StackState) -> None:
        placements = self.placements(state.scale)
        if self.has_network:
            with self.progress.step("building the network"):
                self.build_network(state, placements)
                state.save(self.layout)
        self._launcher(state, placements).start_all()

    def wait_ready(self, state: StackState) -> None:
        self._launcher(state, self.placements(state.scale)).wait_registered(state.scale)

    def _launcher(self, state: StackState, placements: list[Placement]) -> Launcher:
        return Launcher(
            topology=self.topology,
            layout=self.layout,
            state=state,
            progress=self.progress,
            placements=placements,
            enter_for=self.enter_placement,
        )

    def _pid_records(self) -> list[process.Record]:
        return process.records(self.layout.pids) if self.layout.pids.exists() else []

    # -- the other verbs --------------------------------------------------------

    def down(self, *, volumes: bool = False) -> DownResult:
        state = self.state_or_none()
        removed: list[str] = []
        stopped = process.stop_all_timed(self.layout.pids, owner=str(self.layout.dir))
        removed += [
            f"process {s.record.instance} (pid {s.record.pid}), stopped in {s.seconds:.1f} s"
            for s in stopped
            if s.seconds is not None
        ]
        problems = [
            f"{s.record.instance} ignored its stop signal and was killed"
            for s in stopped
            if s.seconds is None
        ]
        net_removed, net_problems = self.teardown_network(state)
        removed += net_removed
        problems += net_problems
        self.layout.state_file.unlink(missing_ok=True)
        self.layout.lab_file.unlink(missing_ok=True)  # its fault went with the network
        supervisor.forget(self.layout)
        if volumes and self.layout.data.exists():
            try:
                shutil.rmtree(self.layout.data)
                removed.append(f"data in {self.layout.data}")
            except OSError as exc:
                problems.append(f"could not remove all data in {self.layout.data}: {exc}")
        return DownResult(removed=tuple(removed), problems=tuple(problems))

    def status(self, *, usage: bool = True) -> list[InstanceStatus]:
        state = self.require_state()
        pids = {r.instance: r.pid for r in process.records(self.layout.pids)}
        sampled = procinfo.usage(pids.values()) if usage else {}
        supervised = supervisor.read_status(self.layout)
        rows = []
        for record in state.instances:
            pid = pids.get(record.name)
            cpu, mem = sampled.get(pid, (None, None)) if pid else (None, None)
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
                    **_supervision(supervised.get(record.name)),
                )
            )
        return rows

    def listening(self, instance: str, pid: int | None) -> tuple[str, ...]:
        return ()

    def run_beside(self, instance: str, spec: process.ProcessSpec) -> int:
        record = self.require_state().instance(instance)
        return process.spawn(
            spec, owner=str(self.layout.dir), pid_dir=self.layout.pids, enter=self.enter_for(record)
        )

    def cache_flusher(
        self, rows: list[InstanceStatus]
    ) -> contextlib.AbstractContextManager[Callable[[], None] | None]:
        return pg_backup.host_cache_flusher(self.layout, self.topology, rows)

    def log_path(self, instance: str) -> Path | None:
        state = self.state_or_none()
        if state is not None:
            state.instance(instance)  # unknown names fail with the list of known ones
        return self.layout.log(instance)

    def backup(self, path: Path) -> str:
        store, schemas = pg_backup.database(self.topology)
        record = self.require_state().instance(f"{store.name}-1")
        return pg_backup.backup(
            path,
            host=record.address,
            port=record.port,
            password=self.layout.db_password(),
            schemas=schemas,
        )

    def restore(self, path: Path) -> str:
        state = self.require_state()
        store, schemas = pg_backup.database(self.topology)
        record = state.instance(f"{store.name}-1")
        message = pg_backup.restore(
            path,
            host=record.address,
            port=record.port,
            password=self.layout.db_password(),
            schemas=schemas,
        )
        # pg_dump's SQL recreates the tables as the superuser: hand them back to their owners.
        Confinement(self.layout).grant_postgres(
            host=record.address, port=record.port, topology=self.topology
        )
        flushes = pg_backup.flushes(self.topology)
        for item in flushes:
            cache = state.instance(f"{item.datastore}-1")
            pg_backup.flush(cache.address, cache.port, item, auth=redis_auth(self.layout))
        return message + pg_backup.flushed_message(flushes)

    # -- helpers --------------------------------------------------------------

    def _health(self, service: str, address: str, port: int, pid: int | None) -> str:
        if pid is None:
            return "down"
        if self.topology.service(service).kind is Kind.DATASTORE:
            return "ready" if _port_open(address, port) else "unavailable"
        port = self.topology.service(service).admin_port or port  # the gateway's is separate
        body = get_json(f"http://{address}:{port}/ready")
        return body.get("status", "unknown") if isinstance(body, dict) else "unavailable"


def _supervision(seen: supervisor.Supervised | None) -> dict[str, Any]:
    if seen is None:
        return {}
    return {"restarts": seen.restarts, "last_exit": seen.last_exit, "supervision": seen.state}


def _port_open(address: str, port: int) -> bool:
    try:
        with socket.create_connection((address, port), timeout=0.5):
            return True
    except OSError:
        return False
