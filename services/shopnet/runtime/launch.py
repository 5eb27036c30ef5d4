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
from ipaddress import ip_address
from pathlib import Path

from shopnet import spec as specs
from shopnet.errors import DriverError, ReadinessTimeout
from shopnet.gateway.routes import format_routes
from shopnet.runtime import datastores, process
from shopnet.runtime.confine import Confinement, redis_auth
from shopnet.runtime.probe import expected_registrations, get_json, wait_registered
from shopnet.runtime.progress import Progress
from shopnet.runtime.state import InstanceRecord, Layout, StackState
from shopnet.topology.model import Engine, Instance, Kind, Topology
from shopnet.topology.wiring import registry_environment, service_environment

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
    advertise: str | None = None
    """The address it registers with, when not `address`: the registry admits only the
    caller's source address, which is a leg's under the netns attached wiring."""
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

    # -- datastores -----------------------------------------------------------

    def _start_datastore(self, placement: Placement) -> None:
        service = placement.instance.service
        engine = service.engine()
        if engine not in datastores.ENGINES:
            raise DriverError(f"no launcher for datastore {service.name!r} ({engine})")
        kit = datastores.ENGINES[engine]
        data = self.layout.data / service.name
        kit.init(data, self._password)
        make_spec, wait_for = kit.spec, kit.wait
        if engine is Engine.REDIS:
            # Its ACL file (default user off) and the runtime's own login for health checks.
            aclfile = self._confinement.redis_aclfile(service, self.topology)
            make_spec = functools.partial(kit.spec, aclfile=aclfile)
            wait_for = functools.partial(kit.wait, auth=redis_auth(self.layout))
        spec = make_spec(
            placement.name,
            bind=placement.bind,
            port=placement.port,
            data_dir=data,
            log_path=self.layout.log(placement.name),
        )
        pid = self._spawn(placement, spec)
        self._await(pid, placement, lambda: wait_for(placement.address, placement.port, timeout=2))
        if engine is Engine.POSTGRES:
            self._confinement.grant_postgres(
                host=placement.address, port=placement.port, topology=self.topology
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
            SHOPNET_ADVERTISE_ADDRESS=placement.advertise or placement.address,
        )
        # The registry gets the bindings of everyone's token; the others their own token.
        setting = (
            "SHOPNET_REGISTRY_TOKENS_FILE"
            if service.name == "registry"
            else "SHOPNET_REGISTRY_TOKEN_FILE"
        )
        env[setting] = str(self._confinement.registry_token(service, self.topology.services))
        if (identity := self._confinement.registration_secret(placement.name, service)) is not None:
            env["SHOPNET_REGISTRATION_SECRET_FILE"] = str(identity)
        if credential := self._confinement.internal_credential(service, self.topology):
            setting, path = credential
            env[setting] = str(path)
        env.update(specs.launch_environment(service))
        if service.name == "gateway":
            env["SHOPNET_GATEWAY_ROUTES"] = format_routes(specs.gateway_routes(self.topology))
        if key := self._confinement.token_key(service):
            env["SHOPNET_GATEWAY_TOKEN_KEY_FILE"] = str(key)
        if service.name == "registry" and not ip_address(placement.address).is_loopback:
            # Tier addresses (netns): each service may register only from its subnets.
            # Local mode leaves the registry's default, loopback.
            env.update(registry_environment(self.topology))
        spec = process.ProcessSpec(
            instance=placement.name,
            argv=(sys.executable, "-m", "shopnet", "serve", service.name),
            log_path=self.layout.log(placement.name),
            env=env,
            # Services deregister on their way out: the registry stops after them.
            stop_phase=1 if service.name == "registry" else 0,
        )
        pid = self._spawn(placement, spec)
        # /ready is on the admin listener where the service has one (the gateway).
        url = f"http://{placement.address}:{service.admin_port or placement.port}/ready"
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

    def wait_registered(self, scale: dict[str, int]) -> None:
        """Until the registry lists every app instance as passing, so the gateway balances all."""
        wait_registered(
            f"http://{self.endpoint('registry')}/v1/services",
            expected_registrations(self.topology, scale),
            progress=self.progress,
            timeout=READY_TIMEOUT,
        )


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
