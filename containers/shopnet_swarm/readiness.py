"""Waiting for a swarm stack: every task running and healthy, then every instance registered.

Both waits ask from inside (Swarm's own task states; the registry's catalog fetched
in its container). A wait that runs out says what it saw: the tasks' errors, or for
each task the registry does not know, where it runs and its last word about the
registry (its logs), so a start-up that does not converge explains itself.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

from shopnet.errors import ReadinessTimeout
from shopnet.runtime import probe
from shopnet.topology.model import Kind
from shopnet_docker.stack import Container
from shopnet_swarm.tasks import STACK_LABEL, Task

if TYPE_CHECKING:
    from shopnet_swarm.driver import SwarmDriver

UP_TIMEOUT = 240.0
READY_TIMEOUT = 90.0


def wait_replicas(driver: SwarmDriver) -> None:
    deadline = time.monotonic() + UP_TIMEOUT
    reported = ""
    while True:
        lines = driver.docker.lines(
            "service", "ls", "--filter", f"label={STACK_LABEL}={driver.project}",
            "--format", "{{.Name}} {{.Replicas}}", what="docker service ls",
        )  # fmt: skip
        summary = ", ".join(sorted(lines))
        if summary != reported:
            reported = summary
            driver.progress.info(f"  {summary}")
        counts = [line.split()[1].split("/") for line in lines if len(line.split()) == 2]
        if len(counts) == len(driver.topology.services) and all(a == b for a, b in counts):
            return
        if time.monotonic() > deadline:
            raise ReadinessTimeout(
                f"swarm tasks not running after {UP_TIMEOUT:.0f}s: {summary}; "
                f"errors: {_task_errors(driver)}"
            )
        time.sleep(1.0)


def _task_errors(driver: SwarmDriver) -> str:
    out = driver.docker.run(
        "stack", "ps", driver.project, "--no-trunc", "--format", "{{.Name}} {{.Error}}",
        what="docker stack ps", check=False,
    )  # fmt: skip
    errors = [line for line in out.stdout.splitlines() if len(line.split()) > 1]
    return "; ".join(errors[:4]) or "none reported"


def wait_registered(driver: SwarmDriver, scale: dict[str, int]) -> None:
    wanted = probe.expected_registrations(driver.topology, scale)
    deadline = time.monotonic() + READY_TIMEOUT
    while True:
        catalog = _registry(driver, "/v1/services").get("services", {})
        if all(catalog.get(s, {}).get("passing", 0) >= n for s, n in wanted.items()):
            return
        if time.monotonic() > deadline:
            have = {s: catalog.get(s, {}).get("passing", 0) for s in wanted}
            raise ReadinessTimeout(
                f"registered instances {have}, expected {wanted}; {unregistered(driver)}"
            )
        time.sleep(1.0)


def _registry(driver: SwarmDriver, path: str) -> dict[str, Any]:
    registry = driver.topology.service("registry")
    container = driver.stack.container("registry-1")
    body = driver.fetch_inside(container, f"http://127.0.0.1:{registry.port}{path}")
    return body if isinstance(body, dict) else {}


def unregistered(driver: SwarmDriver) -> str:
    """Each app task no passing registration has the address of: node, last log word."""
    instances = _registry(driver, "/v1/instances").get("instances", [])
    passing = {i.get("address") for i in instances if i.get("status") == "passing"}
    missing = [
        c
        for c in driver.stack.containers()
        if c.service != "registry"
        and driver.topology.service(c.service).kind is Kind.APP
        and not passing.intersection(c.addresses.values())
    ]
    return "; ".join(f"{_where(c)}: {_last_registry_line(driver, c)}" for c in missing) or (
        "every task is registered now"
    )


def _where(c: Container) -> str:
    node = c.node if isinstance(c, Task) else 1
    return f"{c.instance} on node {node} ({c.state}, {' '.join(c.addresses.values())})"


def _last_registry_line(driver: SwarmDriver, c: Container) -> str:
    out = driver.docker.run("logs", "--tail", "200", c.name, what="logs", check=False)
    for line in reversed((out.stdout + out.stderr).splitlines()):
        if "registr" not in line:
            continue
        try:
            entry = json.loads(line)
        except ValueError:
            return line[:300]
        exc = str(entry.get("exc") or "").strip().splitlines()
        return f"{entry.get('msg', '')} {exc[-1] if exc else ''}".strip()[:300]
    return "nothing about the registry in its log"
