"""Start a stack's processes in dependency order and wait until each is ready.

Shared by local mode (everything on loopback) and netns mode (each instance in
its namespace): a mode only decides each instance's *placement* — where it
listens, how others reach it, and how its process enters its namespace.
"""

from __future__ import annotations

import functools
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from shopnet.errors import DriverError, ReadinessTimeout
from shopnet.runtime import datastores, process
from shopnet.runtime.confine import Confinement, redis_auth
from shopnet.runtime.probe import get_json
from shopnet.runtime.progress import Progress
from shopnet.runtime.state import InstanceRecord, Layout, StackState
from shopnet.topology.model import Instance, Kind, Topology
from shopnet.topology.wiring import service_environment

READY_TIMEOUT = 90.0


@dataclass(frozen=True, slots=True)
class Placement:
    """Where one instance runs in a given mode."""

    instance: Instance
    bind: str
    """Address its process listens on."""
    address: str
    """Address others (and the host) use to reach it."""
    port: int
    namespace: str | None = None
    enter: Callable[[], None] | None = None
    """Runs in the child before exec (e.g. joins the namespace); see Launcher's enter_for."""

    @property
    def name(self) -> str:
        return self.instance.name

    @property
    def endpoint(self) -> str:
        return f"{self.address}:{self.port}"


class Launcher:
    def __init__(
        self,
        *,
        topology: Topology,
        layout: Layout,
        state: StackState,
        progress: Progress,
        placements: list[Placement],
        enter_for: Callable[[Placement], Callable[[], None] | None] | None = None,
    ) -> None:
        self.topology = topology
        self.layout = layout
        self.state = state
        self.progress = progress
        self.placements = placements
        self._enter_for = enter_for or (lambda placement: placement.enter)
        self._owner = str(layout.dir)
        self._password = layout.db_password()
        self._confinement = Confinement(layout)

    def endpoint(self, service: str) -> str:
        """host:port of the first instance of `service` (datastores and the registry)."""
        for placement in self.placements:
            if placement.instance.service.name == service:
                return placement.endpoint
        raise KeyError(service)

    def start_all(self) -> None:
        for placement in self.placements:
            what = f"{placement.name} on {placement.endpoint}"
            with self.progress.step(f"starting {what}"):
                if placement.instance.service.kind is Kind.DATASTORE:
                    self._start_datastore(placement)
                else:
                    self._start_app(placement)
            self.state.instances.append(
                InstanceRecord(
                    name=placement.name,
                    service=placement.instance.service.name,
                    address=placement.address,
                    port=placement.port,
                    namespace=placement.namespace,
                )
            )
            self.state.save(self.layout)
        self._wait_registered()

    # -- datastores -----------------------------------------------------------

    def _start_datastore(self, placement: Placement) -> None:
        name = placement.instance.service.name
        data = self.layout.data / name
        if name == "postgres":
            datastores.init_postgres(data, password=self._password)
            make_spec, wait_for = datastores.postgres_spec, datastores.wait_for_postgres
        elif name == "redis":
            aclfile = self._confinement.redis_aclfile(
                placement.instance.service, self.topology.service("product")
            )
            make_spec = functools.partial(datastores.redis_spec, aclfile=aclfile)
            wait_for = functools.partial(datastores.wait_for_redis, auth=redis_auth(self.layout))
        else:
            raise DriverError(f"no launcher for datastore {name!r}")
        spec = make_spec(
            placement.name,
            bind=placement.bind,
            port=placement.port,
            data_dir=data,
            log_path=self.layout.log(placement.name),
        )
        pid = self._spawn(placement, spec)
        self._await(pid, placement, lambda: wait_for(placement.address, placement.port, timeout=2))
        if name == "postgres":
            self._confinement.grant_postgres(
                host=placement.address, port=placement.port, services=self.topology.services
            )

    # -- our services ---------------------------------------------------------

    def _start_app(self, placement: Placement) -> None:
        service = placement.instance.service
        env = service_environment(
            self.topology, service, endpoint=self.endpoint, db_password=self._password
        )
        env = self._confinement.app_environment(service, env)
        env.update(
            SHOPNET_BIND=placement.bind,
            SHOPNET_PORT=str(placement.port),
            SHOPNET_INSTANCE_ID=placement.name,
            SHOPNET_ADVERTISE_ADDRESS=placement.address,
        )
        spec = process.ProcessSpec(
            instance=placement.name,
            argv=(sys.executable, "-m", "shopnet", "serve", service.name),
            log_path=self.layout.log(placement.name),
            env=env,
        )
        pid = self._spawn(placement, spec)
        url = f"http://{placement.endpoint}/ready"
        self._await(pid, placement, lambda: _wait_http_ready(url))

    def _spawn(self, placement: Placement, spec: process.ProcessSpec) -> int:
        enter = self._enter_for(placement)
        service = placement.instance.service
        spec = self._confinement.confine(
            spec, service, private_pids=placement.namespace is not None
        )
        return process.spawn(spec, owner=self._owner, pid_dir=self.layout.pids, enter=enter)

    def _await(self, pid: int, placement: Placement, wait: Callable[[], None]) -> None:
        """Run `wait`, but fail at once with the log's tail if the process dies meanwhile."""
        deadline = time.monotonic() + READY_TIMEOUT
        while True:
            if not process.alive(pid):
                raise DriverError(
                    f"{placement.name} exited during start-up; last log lines:\n"
                    + _tail(self.layout.log(placement.name))
                )
            try:
                wait()
                return
            except ReadinessTimeout:
                if time.monotonic() > deadline:
                    raise ReadinessTimeout(
                        f"{placement.name} not ready after {READY_TIMEOUT:.0f}s; last log lines:\n"
                        + _tail(self.layout.log(placement.name))
                    ) from None

    def _wait_registered(self) -> None:
        """Until the registry lists every app instance as passing, so the gateway balances all."""
        expected: dict[str, int] = {}
        for placement in self.placements:
            service = placement.instance.service
            if service.kind is Kind.APP and service.name != "registry":
                expected[service.name] = expected.get(service.name, 0) + 1
        url = f"http://{self.endpoint('registry')}/v1/services"
        with self.progress.step("waiting until every instance is registered"):
            deadline = time.monotonic() + READY_TIMEOUT
            while True:
                catalog = (get_json(url) or {}).get("services", {})
                if all(catalog.get(s, {}).get("passing", 0) >= n for s, n in expected.items()):
                    return
                if time.monotonic() > deadline:
                    raise ReadinessTimeout(f"instances missing from the registry: {catalog}")
                time.sleep(0.1)


def _wait_http_ready(url: str, timeout: float = 2.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if get_json(url, ok_only=True) is not None:
            return
        time.sleep(0.05)
    raise ReadinessTimeout(f"{url} not ready")


def _tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return "    (no log)"
    return "\n".join(f"    {line}" for line in text[-lines:])
