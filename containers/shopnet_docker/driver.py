"""The docker mode: `shopnet up --mode docker` and the other verbs, on compose and the docker CLI.

    up       preflight (engine, compose, leftovers, host ports, subnets, database volume)
             → images (built when missing, stale or with --build) → the compose file
             rendered from the topology → `compose up -d` → every container healthy
             → every app instance registered → /api/products answers on the published port
    down     `compose down --remove-orphans` [--volumes], then whatever still carries our
             labels; idempotent, and never touches anything without them
    status   per container: address, health (/ready for our services), CPU %, memory
    exec, logs, capture, netem, backup, restore: through docker and the host's tools

State lives in <state-dir>/docker: state.json, the rendered compose.yaml, compose's
output (compose.log) and the database password, which is kept with the data (the
`pgdata` volume); `down --volumes` removes both.

Environment: SHOPNET_DOCKER_IMAGES picks the images: `offline` (default: built here from
Debian packages), `official` (python:3.11-slim-based service image, official redis and
postgres, pulled), `preloaded` (whatever SHOPNET_IMAGE / SHOPNET_REDIS_IMAGE /
SHOPNET_POSTGRES_IMAGE name, e.g. loaded from Nix; never built or pulled).
SHOPNET_COMPAT_PORT picks the gateway's second host port (default 3000; 0: any free one).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections import Counter
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path

from shopnet.errors import (
    ConfigError,
    DriverError,
    PreflightError,
    ReadinessTimeout,
    ShopnetError,
    StateError,
)
from shopnet.runtime import backup as pg_backup
from shopnet.runtime import ports
from shopnet.runtime.base import DownResult, Driver, InstanceStatus, UpResult
from shopnet.runtime.probe import get_json
from shopnet.runtime.progress import Progress
from shopnet.runtime.state import InstanceRecord, StackState
from shopnet.topology.model import WORLD, Kind, Service, Topology
from shopnet_docker import images as image_build
from shopnet_docker import links, names
from shopnet_docker.compose import render
from shopnet_docker.engine import Docker
from shopnet_docker.stack import Container, Network, Stack

IMAGES_ENV = "SHOPNET_DOCKER_IMAGES"
IMAGE_SOURCES = ("offline", "official", "preloaded")
UP_TIMEOUT = 240.0
"""From `compose up` until every container is healthy (PostgreSQL's first start included)."""
READY_TIMEOUT = 60.0
"""Then until every instance is registered and the gateway answers."""
POLL = 0.5


class DockerDriver(Driver):
    mode = "docker"

    def __init__(self, *, topology: Topology, root: Path, progress: Progress) -> None:
        super().__init__(topology=topology, root=root, progress=progress)
        self.project = topology.prefix
        self.docker = Docker()
        self.stack = Stack(self.docker, self.project)

    # -- facts ----------------------------------------------------------------

    @property
    def image_source(self) -> str:
        source = os.environ.get(IMAGES_ENV, "").strip().lower() or "offline"
        if source not in IMAGE_SOURCES:
            raise ConfigError(f"{IMAGES_ENV}={source!r}: expected {', '.join(IMAGE_SOURCES)}")
        return source

    @property
    def images(self) -> names.Images:
        if self.image_source == "preloaded":
            return names.Images(
                service=os.environ.get(names.VAR_IMAGE) or names.OFFLINE.service,
                redis=os.environ.get(names.VAR_REDIS_IMAGE) or names.OFFLINE.redis,
                postgres=os.environ.get(names.VAR_POSTGRES_IMAGE) or names.OFFLINE.postgres,
            )
        return image_build.images_for(offline=self.image_source == "offline")

    @property
    def compose_file(self) -> Path:
        return self.layout.dir / "compose.yaml"

    @property
    def compose_log(self) -> Path:
        return self.layout.dir / "compose.log"

    @property
    def gateway_url(self) -> str:
        return f"http://127.0.0.1:{self.topology.published_port}"

    def _published(self) -> Service:
        targets = [f.target for f in self.topology.flows if f.source == WORLD]
        return self.topology.service(targets[0]) if targets else self.topology.service("gateway")

    def _compat_port(self) -> int:
        raw = os.environ.get(names.VAR_COMPAT_PORT, "").strip()
        if not raw:
            return self._published().port
        if not raw.isdigit() or not 0 <= int(raw) < 65536:
            raise ConfigError(f"{names.VAR_COMPAT_PORT}={raw!r} is not a port (0: any free one)")
        if int(raw) == self.topology.published_port:
            raise ConfigError(
                f"{names.VAR_COMPAT_PORT}={raw} is the published port already; pick another"
            )
        return int(raw)

    def _compose_env(self, *, password: bool) -> dict[str, str]:
        env = dict(os.environ)
        images = self.images
        env.update(
            {
                names.VAR_IMAGE: images.service,
                names.VAR_REDIS_IMAGE: images.redis,
                names.VAR_POSTGRES_IMAGE: images.postgres,
                names.VAR_PUBLISHED_PORT: str(self.topology.published_port),
                names.VAR_COMPAT_PORT: str(self._compat_port()),
            }
        )
        if password:
            env[names.VAR_DB_PASSWORD] = self.layout.db_password()
        return env

    def _compose(
        self, *args: str, what: str, password: bool = False, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        if not self.compose_file.exists():
            self._write_compose_file()
        return self.docker.compose(
            self.compose_file,
            self.project,
            *args,
            what=what,
            env=self._compose_env(password=password),
            check=check,
        )

    def _write_compose_file(self) -> None:
        self.layout.dir.mkdir(parents=True, exist_ok=True)
        context = str(image_build.SOURCE_ROOT)
        self.compose_file.write_text(render(self.topology, build_context=context))

    def present(self) -> bool:
        if self.layout.state_file.exists():
            return True
        try:
            self.docker.ping(timeout=5.0)
            return bool(self.stack.containers() or self.stack.networks())
        except ShopnetError:
            return False

    def _state_or_none(self) -> StackState | None:
        try:
            return self.state()
        except StateError:
            return None

    # -- up -------------------------------------------------------------------

    def up(self, *, scale: dict[str, int], build: bool = False) -> UpResult:
        names.project(self.project)  # a prefix compose cannot use fails before anything runs
        images = self.images  # a bad SHOPNET_DOCKER_IMAGES fails here, before anything runs
        self._preflight()
        self._ensure_images(build)
        self._write_compose_file()
        state = StackState(
            mode=self.mode,
            scale=dict(scale),
            gateway_url=self.gateway_url,
            extra={
                "project": self.project,
                "compose_file": str(self.compose_file),
                "compose": self.docker.compose_command(),
                "images": [images.service, images.redis, images.postgres],
            },
        )
        state.save(self.layout)
        expected = {s.name: scale.get(s.name, 1) for s in self.topology.services}
        try:
            containers = self._start(expected)
            self._wait_registered(containers, expected)
            self._smoke_test()
        except BaseException:
            # Nothing half-started may outlive a failed (or interrupted) `up`; the data stays.
            self.progress.warn("start-up failed; removing everything that was started")
            try:
                result = self.down()
            except ShopnetError as exc:  # the original error matters more
                self.progress.warn(f"cleanup failed too: {exc}; run `shopnet down --mode docker`")
            else:
                for problem in result.problems:
                    self.progress.warn(problem)
            raise
        containers = self.stack.containers()
        state.instances = [self._record(c) for c in self._ordered(containers)]
        state.phase = "up"
        state.save(self.layout)
        compat = self._compat_port()
        notes = [f"compose file: {self.compose_file} (project {self.project})"]
        if compat:
            notes.insert(0, f"the gateway is also published on http://127.0.0.1:{compat}")
        return UpResult(
            gateway_url=self.gateway_url,
            instances=tuple(r.name for r in state.instances),
            notes=tuple(notes),
        )

    def _preflight(self) -> None:
        self.docker.ping()
        self.docker.compose_command()
        self._refuse_existing()
        self._check_ports()
        self._check_subnets()
        if (
            self.stack.volume_exists(names.DB_VOLUME)
            and not (self.layout.data / "db-password").exists()
        ):
            raise PreflightError(
                f"the database volume {self.project}_{names.DB_VOLUME} exists, but its password "
                f"is not in {self.layout.data} (another --state-dir?); use that state "
                f"directory, or `shopnet down --mode docker --volumes` to start afresh"
            )

    def _refuse_existing(self) -> None:
        state = self._state_or_none()
        containers = self.stack.containers()
        if state is not None and state.phase == "up" and any(c.running for c in containers):
            raise StateError(
                f"a docker stack is already running ({state.gateway_url}); run `shopnet down` first"
            )
        leftovers = [f"container {c.name}" for c in containers]
        leftovers += [f"network {n.name}" for n in self.stack.networks()]
        if leftovers or state is not None or self.layout.state_file.exists():
            shown = ", ".join(leftovers[:3]) + (" …" if len(leftovers) > 3 else "")
            raise StateError(
                f"leftovers of an earlier docker run ({shown or self.layout.state_file}); "
                "run `shopnet down --mode docker` first"
            )

    def _check_ports(self) -> None:
        gateway = self._published()
        for port, what in (
            (self.topology.published_port, "published port"),
            (self._compat_port(), f"second published port ({names.VAR_COMPAT_PORT})"),
        ):
            if port:
                ports.require_free(port, what=f"the {gateway.name}'s {what}")

    def _check_subnets(self) -> None:
        ours = {names.bridge(self.project, t.name) for t in self.topology.tiers}
        netns_bridges = {t.bridge for t in self.topology.tiers}
        for ifname, network in host_routes():
            if ifname in ours or network.prefixlen == 0:
                continue
            for tier in self.topology.tiers:
                if tier.subnet.overlaps(network):
                    hint = (
                        " (the netns stack's bridge: `shopnet down --mode netns`)"
                        if ifname in netns_bridges
                        else ""
                    )
                    raise PreflightError(
                        f"tier {tier.name}'s subnet {tier.subnet} overlaps {network} on "
                        f"{ifname}{hint}; remove that network or use another topology"
                    )

    def _ensure_images(self, build: bool) -> None:
        if self.image_source == "preloaded":
            if build:
                raise ConfigError(f"--build: {IMAGES_ENV}=preloaded runs images as they are")
            images = self.images
            for tag in (images.service, images.redis, images.postgres):
                if image_build.image_labels(self.docker, tag) is None:
                    raise PreflightError(
                        f"image {tag} is not loaded ({IMAGES_ENV}=preloaded builds nothing); "
                        "load it first (e.g. shopnet-load-images)"
                    )
            self.progress.info("using the preloaded images")
            return
        offline = self.image_source == "offline"
        if not build:
            stale = image_build.outdated(self.docker, offline=offline)
            if not stale:
                self.progress.info("images are up to date")
                return
            self.progress.info(f"building images: {', '.join(stale)} missing or out of date")
        report = image_build.build_images(self.progress, offline=offline, docker=self.docker)
        for line in report.lines():
            self.progress.info(f"  {line}")

    def _start(self, expected: dict[str, int]) -> list[Container]:
        """`compose up -d`, reporting each container's way to healthy; fails fast on a crash."""
        scaling = [
            arg
            for s in self.topology.services
            if s.scalable
            for arg in ("--scale", f"{s.name}={expected[s.name]}")
        ]
        argv = self.docker.compose_argv(
            self.compose_file, self.project, "up", "-d", "--no-build", "--remove-orphans",
            *scaling,
        )  # fmt: skip
        total = sum(expected.values())
        with open(self.compose_log, "ab") as log:
            process = subprocess.Popen(
                argv,
                env=self._compose_env(password=True),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        try:
            with self.progress.step(f"starting {total} containers and waiting until healthy"):
                return self._watch(process, expected)
        finally:
            if process.poll() is None:
                process.terminate()
                process.wait()

    def _watch(self, process: subprocess.Popen[bytes], expected: dict[str, int]) -> list[Container]:
        deadline = time.monotonic() + UP_TIMEOUT
        reported: dict[str, str] = {}
        while True:
            containers = self.stack.containers()
            for c in containers:
                status = c.health or c.state
                if reported.get(c.instance) != status:
                    reported[c.instance] = status
                    self.progress.info(f"  {c.instance:<11} {status}")
                problem = _failure(c)
                if problem:
                    raise DriverError(
                        f"{c.instance} ({c.name}) {problem}; last log lines:\n{self._tail(c)}"
                    )
            done = process.poll()
            if done is not None and done != 0:
                raise DriverError(f"compose up failed: {_tail_file(self.compose_log, 4)}")
            healthy = Counter(c.service for c in containers if c.running and c.health == "healthy")
            if done == 0 and all(healthy[s] >= n for s, n in expected.items()):
                return containers
            if time.monotonic() > deadline:
                waiting = [f"{c.instance} {c.health or c.state}" for c in containers]
                raise ReadinessTimeout(
                    f"containers not healthy after {UP_TIMEOUT:.0f}s: {', '.join(waiting)}"
                )
            time.sleep(POLL)

    def _wait_registered(self, containers: list[Container], expected: dict[str, int]) -> None:
        """Until the registry lists every app instance as passing, so the gateway balances all."""
        try:
            registry = self.topology.service("registry")
        except KeyError:
            return
        address = next(
            (c.addresses.get(registry.tier) for c in containers if c.service == "registry"), None
        )
        if address is None:
            raise DriverError("the registry container has no address on its tier")
        wanted = {
            s.name: expected[s.name]
            for s in self.topology.services
            if s.kind is Kind.APP and s.name != "registry"
        }
        url = f"http://{address}:{registry.port}/v1/services"
        with self.progress.step("waiting until every instance is registered"):
            deadline = time.monotonic() + READY_TIMEOUT
            while True:
                catalog = (get_json(url) or {}).get("services", {})
                if all(catalog.get(s, {}).get("passing", 0) >= n for s, n in wanted.items()):
                    return
                if time.monotonic() > deadline:
                    have = {s: catalog.get(s, {}).get("passing", 0) for s in wanted}
                    raise ReadinessTimeout(f"registered instances {have}, expected {wanted}")
                time.sleep(0.2)

    def _smoke_test(self) -> None:
        url = f"{self.gateway_url}/api/products?page_size=1"
        with self.progress.step(f"checking {url} end to end"):
            deadline = time.monotonic() + READY_TIMEOUT
            while True:
                body = get_json(url, timeout=5.0, ok_only=True)
                if isinstance(body, dict) and "items" in body:
                    return
                if time.monotonic() > deadline:
                    raise DriverError(f"the gateway at {self.gateway_url} does not serve {url}")
                time.sleep(0.25)

    # -- down -----------------------------------------------------------------

    def down(self, *, volumes: bool = False) -> DownResult:
        try:
            self.docker.ping(timeout=10.0)
        except PreflightError as exc:
            if not self.layout.state_file.exists():
                return DownResult(removed=())
            return DownResult(
                removed=(),
                problems=(f"{exc}; {self.layout.state_file} is kept for a later `shopnet down`",),
            )
        before_containers = {c.id: c.name for c in self.stack.containers()}
        before_networks = {n.id: n.name for n in self.stack.networks()}
        before_volumes = self.stack.volumes() if volumes else []
        problems: list[str] = []
        compose_error = None

        args = ["down", "--remove-orphans", *(["--volumes"] if volumes else [])]
        if before_containers or before_networks or before_volumes:
            try:  # compose stops services in dependency order, each with its grace period
                out = self._compose(*args, what="compose down", check=False)
                if out.returncode != 0:
                    compose_error = f"compose down: {_last_line(out.stderr or out.stdout)}"
            except PreflightError as exc:  # no compose here: the sweep below still works
                compose_error = str(exc)
        # Whatever compose did not remove (a crash between steps, a changed compose file).
        for container in self.stack.containers():
            out = self.docker.run("rm", "-f", "-v", container.id, what="rm", check=False)
            if out.returncode != 0:
                problems.append(f"container {container.name}: {_last_line(out.stderr)}")
        for network in self.stack.networks():
            out = self.docker.run("network", "rm", network.id, what="network rm", check=False)
            if out.returncode != 0:
                problems.append(f"network {network.name}: {_last_line(out.stderr)}")
        if volumes:
            for volume in self.stack.volumes():
                out = self.docker.run("volume", "rm", volume, what="volume rm", check=False)
                if out.returncode != 0:
                    problems.append(f"volume {volume}: {_last_line(out.stderr)}")

        left_containers = {c.id for c in self.stack.containers()}
        left_networks = {n.id for n in self.stack.networks()}
        left_volumes = set(self.stack.volumes()) if volumes else set()
        removed = [
            f"container {n}" for i, n in before_containers.items() if i not in left_containers
        ]
        removed += [f"network {n}" for i, n in before_networks.items() if i not in left_networks]
        removed += [f"volume {v}" for v in before_volumes if v not in left_volumes]
        if compose_error and (left_containers or left_networks or left_volumes):
            problems.insert(0, compose_error)
        removed += self._remove_loss_tables()
        if not (left_containers or left_networks or left_volumes):
            self.layout.state_file.unlink(missing_ok=True)
            self.compose_file.unlink(missing_ok=True)
            if volumes and self.layout.data.exists():
                shutil.rmtree(self.layout.data)
                removed.append(f"data in {self.layout.data}")
        return DownResult(removed=tuple(removed), problems=tuple(problems))

    def isolation(self) -> tuple[str, bool]:
        from shopnet_docker import isolation

        cells = isolation.matrix(self.docker, self.topology, self._containers_or_fail())
        return isolation.format_matrix(cells), all(c.ok for c in cells)

    def _remove_loss_tables(self) -> list[str]:
        """nftables loss tables `netem --loss` made on a kernel without netem."""
        if shutil.which("nft") is None:
            return []
        from shopnet_netns import lossfilter
        from shopnet_netns.names import Names

        names = Names(self.project)
        return [
            f"nftables table inet {lossfilter.table(names, t.name)}"
            for t in self.topology.tiers
            if lossfilter.clear(names, t.name)
        ]

    # -- status, exec, logs ---------------------------------------------------

    def _containers_or_fail(self) -> list[Container]:
        self.docker.ping()
        containers = self.stack.containers()
        if not containers:
            raise StateError(
                "no docker stack is running (start one with `shopnet up --mode docker`)"
            )
        return containers

    def status(self) -> list[InstanceStatus]:
        containers = self._ordered(self._containers_or_fail())
        usage = self._stats([c.id for c in containers if c.running])
        rows = []
        for c in containers:
            cpu, mem = usage.get(c.id[:12], (None, None))
            record = self._record(c)
            rows.append(
                InstanceStatus(
                    service=c.service,
                    instance=c.instance,
                    address=f"{record.address}:{record.port}" if record.address else "-",
                    pid=c.pid or None,
                    health=self._health(c),
                    where=c.name,
                    cpu_percent=cpu,
                    memory_mb=mem,
                )
            )
        return rows

    def exec(self, instance: str, argv: list[str]) -> int:
        self.docker.ping()
        container = self.stack.container(instance)
        tty = ["-t"] if sys.stdin.isatty() and sys.stdout.isatty() else []
        return subprocess.run(
            [self.docker.binary, "exec", "-i", *tty, container.name, *argv], check=False
        ).returncode

    def log_path(self, instance: str) -> Path | None:
        return None  # Docker keeps the logs: `shopnet logs` reads them with `docker logs`

    def logs(self, instance: str, *, follow: bool) -> int:
        self.docker.ping()
        container = self.stack.container(instance)
        argv = [self.docker.binary, "logs", *(["--follow"] if follow else []), container.name]
        return subprocess.run(argv, check=False).returncode

    # -- capture, netem -------------------------------------------------------

    def _network(self, tier: str) -> Network:
        try:
            self.topology.tier(tier)
        except KeyError:
            known = ", ".join(t.name for t in self.topology.tiers)
            raise ConfigError(f"unknown tier {tier!r}; tiers: {known}") from None
        self.docker.ping()
        for network in self.stack.networks():
            if network.tier == tier:
                return network
        raise StateError(f"the docker stack has no {tier} network (is it up?)")

    def capture(self, tier: str, *, count: int | None, seconds: float | None, output: Path) -> str:
        network = self._network(tier)
        # The netns mode's tcpdump runner and pcap summary (imported only when capturing).
        from shopnet_netns.capture import capture

        summary = capture(network.bridge, output, count=count, seconds=seconds)
        labels = {
            address: c.instance for c in self.stack.containers() for address in c.addresses.values()
        }
        labels[str(self.topology.tier(tier).host_address)] = "host"
        return f"{tier} ({network.bridge}) → {output}\n" + summary.format(labels=labels)

    def netem(self, tier: str, *, delay_ms: float, loss_pct: float, clear: bool) -> str:
        self._network(tier)
        found = links.links(self.stack.containers(), tier)
        # Same checks, wording and loss fallback as the netns mode (imported only when used).
        from shopnet_netns import lossfilter
        from shopnet_netns.names import Names
        from shopnet_netns.netem import Impairment, kernel_support

        if clear:
            table = " and the loss table" if lossfilter.clear(Names(self.project), tier) else ""
            return f"tier {tier}: netem removed from {links.clear(found)} interfaces{table}"
        impairment = Impairment(delay_ms=delay_ms, loss_pct=loss_pct)
        if not found:
            return f"tier {tier} has no running containers; nothing to shape"
        if reason := kernel_support():
            if delay_ms:
                raise PreflightError(reason)
            subnet = self.topology.tier(tier).subnet
            return lossfilter.apply(Names(self.project), tier, subnet, loss_pct)
        shaped = links.netem(found, delay_ms=delay_ms, loss_pct=loss_pct)
        return (
            f"tier {tier}: {impairment.describe()} on {shaped} interfaces "
            f"(both veth ends of {len(found)} containers)"
        )

    # -- backup, restore ------------------------------------------------------

    def _datastore(self, service: str) -> Container:
        self.docker.ping()
        container = self.stack.container(f"{service}-1")
        if not container.running:
            raise StateError(f"{container.name} is not running ({container.state})")
        return container

    def _pg_env(self) -> dict[str, str]:
        # The password reaches `docker exec -e PGPASSWORD` through the environment, never argv.
        return {**os.environ, "PGPASSWORD": self.layout.db_password()}

    def backup(self, path: Path) -> str:
        postgres = self._datastore("postgres")
        port = self.topology.service("postgres").port
        argv = [self.docker.binary, "exec", "-e", "PGPASSWORD", postgres.name, "pg_dump"]
        argv += pg_backup.dump_args("127.0.0.1", port)
        tmp = path.with_name(path.name + ".partial")
        # Private from the first byte: a backup holds every order.
        with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as out:
            result = subprocess.run(
                argv, stdout=out, stderr=subprocess.PIPE, env=self._pg_env(), check=False
            )
        if result.returncode != 0:
            tmp.unlink(missing_ok=True)
            raise DriverError(
                f"pg_dump failed: {_last_line(result.stderr.decode(errors='replace'))}"
            )
        tmp.replace(path)  # never leave a half-written backup under the real name
        schemas = ", ".join(pg_backup.SCHEMAS)
        return f"backed up schemas {schemas} to {path} ({path.stat().st_size} bytes)"

    def restore(self, path: Path) -> str:
        if not path.is_file():
            raise DriverError(f"no backup file at {path}")
        postgres = self._datastore("postgres")
        redis = self._datastore("redis")
        port = self.topology.service("postgres").port
        argv = [self.docker.binary, "exec", "-i", "-e", "PGPASSWORD", postgres.name, "psql"]
        argv += pg_backup.restore_args("127.0.0.1", port)
        with open(path, "rb") as source:
            result = subprocess.run(
                argv, stdin=source, capture_output=True, env=self._pg_env(), check=False
            )
        if result.returncode != 0:
            raise DriverError(
                f"restore failed: {_last_line(result.stderr.decode(errors='replace'))}"
            )
        self.docker.run("exec", redis.name, "redis-cli", "FLUSHALL", what="flushing the cache")
        schemas = ", ".join(pg_backup.SCHEMAS)
        return f"restored schemas {schemas} from {path}; product cache flushed"

    # -- helpers --------------------------------------------------------------

    def _ordered(self, containers: list[Container]) -> list[Container]:
        order = {s.name: i for i, s in enumerate(self.topology.start_order())}
        return sorted(containers, key=lambda c: (order.get(c.service, len(order)), c.number))

    def _record(self, c: Container) -> InstanceRecord:
        try:
            service = self.topology.service(c.service)
        except KeyError:
            return InstanceRecord(c.instance, c.service, "", 0, container=c.name)
        address = c.addresses.get(service.tier, "")
        return InstanceRecord(c.instance, c.service, address, service.port, container=c.name)

    def _health(self, c: Container) -> str:
        if not c.running:
            return "down"
        try:
            service = self.topology.service(c.service)
        except KeyError:
            return "unknown"
        if service.kind is Kind.APP:
            address = c.addresses.get(service.tier)
            body = get_json(f"http://{address}:{service.port}/ready") if address else None
            if isinstance(body, dict) and isinstance(body.get("status"), str):
                return body["status"]
            return "unavailable"
        return "ready" if c.health == "healthy" else "unavailable"

    def _stats(self, ids: list[str]) -> dict[str, tuple[float | None, float | None]]:
        """Short id → (CPU %, memory MiB), as `docker stats --no-stream` shows them."""
        if not ids:
            return {}
        out = self.docker.run(
            "stats", "--no-stream", "--format", "{{.ID}}\t{{.CPUPerc}}\t{{.MemUsage}}", *ids,
            what="docker stats", check=False,
        )  # fmt: skip
        usage = {}
        for line in out.stdout.splitlines():
            parts = line.split("\t")
            if len(parts) == 3:
                usage[parts[0][:12]] = (_percent(parts[1]), _mebibytes(parts[2].split("/")[0]))
        return usage

    def _tail(self, c: Container, lines: int = 15) -> str:
        out = self.docker.run("logs", "--tail", str(lines), c.id, what="docker logs", check=False)
        text = (out.stdout + out.stderr).strip().splitlines()
        return "\n".join(f"    {line}" for line in text[-lines:]) or "    (no output)"


def _failure(c: Container) -> str | None:
    """Why a container counts as failed during `up`, or None."""
    if c.oom_killed:
        return "ran out of memory and was killed (raise its memory_mb in the topology)"
    if c.state in {"exited", "dead"}:
        return f"exited with status {c.exit_code}"
    if c.restarts > 0 or c.state == "restarting":
        times = "once" if c.restarts <= 1 else f"{c.restarts} times"
        return f"crashed (exit status {c.exit_code}) and was restarted {times}"
    if c.health == "unhealthy":
        return "is unhealthy"
    return None


def host_routes() -> list[tuple[str, IPv4Network]]:
    """(interface, destination network) of the host's IPv4 routes (main table)."""
    routes = []
    try:
        rows = Path("/proc/net/route").read_text().splitlines()[1:]
    except OSError:
        return []
    for row in rows:
        fields = row.split()
        if len(fields) < 8:
            continue
        destination = IPv4Address(int(fields[1], 16).to_bytes(4, "little"))
        mask = IPv4Address(int(fields[7], 16).to_bytes(4, "little"))
        routes.append((fields[0], IPv4Network(f"{destination}/{mask}", strict=False)))
    return routes


def _percent(text: str) -> float | None:
    try:
        return float(text.strip().rstrip("%"))
    except ValueError:
        return None


_UNITS = {"b": 1, "kib": 2**10, "mib": 2**20, "gib": 2**30, "kb": 1e3, "mb": 1e6, "gb": 1e9}


def _mebibytes(text: str) -> float | None:
    text = text.strip().lower()
    number = text.rstrip("abcdefghijklmnopqrstuvwxyz")
    try:
        return float(number) * _UNITS[text[len(number) :].strip()] / 2**20
    except (ValueError, KeyError):
        return None


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "(no output)"


def _tail_file(path: Path, lines: int) -> str:
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return "(no output)"
    kept = [line.strip() for line in text if line.strip()]
    return " / ".join(kept[-lines:]) or "(no output)"
