"""Bringing a docker stack up: `compose up -d` level by level, each healthy, then registered.

Each `compose up` runs in the background while we watch each container's way to
healthy (running its own check ourselves, health.py) and fail fast, with the
container's last log lines, on a crash, an out-of-memory kill, a restart or an
unhealthy check.
"""

from __future__ import annotations

import subprocess
import time
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

from shopnet.errors import DriverError, ReadinessTimeout
from shopnet.runtime import nofollow, probe
from shopnet_docker import health
from shopnet_docker.stack import Container

if TYPE_CHECKING:
    from shopnet_docker.project import ComposeFile, Project

UP_TIMEOUT = 240.0
"""From `compose up` until every container is healthy (PostgreSQL's first start included)."""
READY_TIMEOUT = 60.0
"""Then until every instance is registered (and, in Driver.smoke_test, the gateway answers)."""
POLL = 0.5


def start(project: Project, compose: ComposeFile, expected: dict[str, int]) -> list[Container]:
    """`compose up -d` one level of dependencies at a time, each once the one before is
    healthy by its own check (health.py: not at Docker's next interval); fails fast on a crash."""
    total = sum(expected.values())
    deadline = time.monotonic() + UP_TIMEOUT
    checked: set[str] = set()
    reported: dict[str, str] = {}
    containers: list[Container] = []
    with project.progress.step(f"starting {total} containers and waiting until healthy"):
        for level in health.dependency_levels(project.topology):
            wanted = {s.name: expected[s.name] for s in level}
            process = _compose_up(project, compose, wanted)
            try:
                containers = _watch(project, compose, process, wanted, checked, reported, deadline)
            finally:
                if process.poll() is None:
                    process.terminate()
                    process.wait()
    return containers


def _compose_up(
    project: Project, compose: ComposeFile, wanted: dict[str, int]
) -> subprocess.Popen[bytes]:
    """`compose up -d --no-deps` of these services only: compose waits for nothing."""
    scaling = [
        arg
        for s in project.topology.services
        if s.scalable and s.name in wanted
        for arg in ("--scale", f"{s.name}={wanted[s.name]}")
    ]
    argv = project.docker.compose_argv(
        compose.path, project.name, "up", "-d", "--no-build", "--no-deps",
        "--remove-orphans", *scaling, *wanted,
    )  # fmt: skip
    with nofollow.append_private(compose.log) as log:
        return subprocess.Popen(
            argv,
            env=compose.environment(True),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def _watch(
    project: Project,
    compose: ComposeFile,
    process: subprocess.Popen[bytes],
    wanted: dict[str, int],
    checked: set[str],
    reported: dict[str, str],
    deadline: float,
) -> list[Container]:
    """Until `wanted`'s containers pass their checks; `checked` keeps the ids that did,
    `reported` what progress said of each instance last."""
    while True:
        containers = project.stack.containers()
        for c in containers:
            if c.service in wanted and c.id not in checked and health.passes(project.docker, c):
                checked.add(c.id)
            status = "healthy" if c.id in checked else c.health or c.state
            if reported.get(c.instance) != status:
                reported[c.instance] = status
                project.progress.info(f"  {c.instance:<11} {status}")
            problem = failure(c)
            if problem:
                raise DriverError(
                    f"{c.instance} ({c.name}) {problem}; last log lines:\n{project.tail(c)}"
                )
        done = process.poll()
        if done is not None and done != 0:
            raise DriverError(f"compose up failed: {tail_file(compose.log, 4)}")
        healthy = Counter(c.service for c in containers if c.running and c.id in checked)
        if done == 0 and all(healthy[s] >= n for s, n in wanted.items()):
            return containers
        if time.monotonic() > deadline:
            waiting = [f"{c.instance} {c.health or c.state}" for c in containers]
            raise ReadinessTimeout(
                f"containers not healthy after {UP_TIMEOUT:.0f}s: {', '.join(waiting)}"
            )
        time.sleep(POLL)


def wait_registered(project: Project, scale: dict[str, int]) -> None:
    """Until the registry lists every app instance as passing, so the gateway balances all."""
    try:
        registry = project.topology.service("registry")
    except KeyError:
        return
    containers = project.stack.containers()
    address = next(
        (c.address_on(registry.tier) or None for c in containers if c.service == "registry"),
        None,
    )
    if address is None:
        raise DriverError("the registry container has no address on its tier")
    probe.wait_registered(
        f"http://{address}:{registry.port}/v1/services",
        probe.expected_registrations(project.topology, scale),
        progress=project.progress,
        timeout=READY_TIMEOUT,
    )


def failure(c: Container) -> str | None:
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


def tail_file(path: Path, lines: int) -> str:
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return "(no output)"
    kept = [line.strip() for line in text if line.strip()]
    return " / ".join(kept[-lines:]) or "(no output)"
