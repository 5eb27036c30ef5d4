"""What a running docker stack looks like: one row per container, as `shopnet status` shows it."""

from __future__ import annotations

import time

from shopnet.runtime.base import InstanceStatus
from shopnet.runtime.probe import get_json
from shopnet.runtime.state import InstanceRecord
from shopnet.topology.model import Kind, Topology
from shopnet_docker.engine import Docker
from shopnet_docker.health import passes
from shopnet_docker.stack import Container
from shopnet_docker.stoptimes import last_exit_codes

_UNITS = {"b": 1, "kib": 2**10, "mib": 2**20, "gib": 2**30, "kb": 1e3, "mb": 1e6, "gb": 1e9}


def rows(
    docker: Docker, topology: Topology, containers: list[Container], *, usage: bool = True
) -> list[InstanceStatus]:
    containers = ordered(topology, containers)
    sampled = stats(docker, [c.id for c in containers if c.running]) if usage else {}
    exits = last_exit_codes(docker, [c.id for c in containers if c.restarts], until=time.time())
    found = []
    for c in containers:
        cpu, mem = sampled.get(c.id[:12], (None, None))
        record = record_of(topology, c)
        found.append(
            InstanceStatus(
                service=c.service,
                instance=c.instance,
                address=f"{record.address}:{record.port}" if record.address else "-",
                pid=c.pid or None,
                health=health(docker, topology, c),
                where=c.name,
                cpu_percent=cpu,
                memory_mb=mem,
                restarts=c.restarts,
                last_exit=last_exit(c, exits),
            )
        )
    return found


def last_exit(c: Container, exits: dict[str, str]) -> str:
    """`exit 137` (SIGKILL), "" for a first run still running. A restarted container's
    State.ExitCode is 0 again, so its last exit comes from the engine's events."""
    if not c.running:  # exited or between restarts: Docker's State.ExitCode is the last one
        return f"exit {c.exit_code}" + (" (OOM killed)" if c.oom_killed else "")
    if not c.restarts:
        return ""
    code = exits.get(c.id)
    return f"exit {code}" if code is not None else "exit ?"  # the engine's events rolled over


def ordered(topology: Topology, containers: list[Container]) -> list[Container]:
    order = {s.name: i for i, s in enumerate(topology.start_order())}
    return sorted(containers, key=lambda c: (order.get(c.service, len(order)), c.number))


def record_of(topology: Topology, c: Container) -> InstanceRecord:
    try:
        service = topology.service(c.service)
    except KeyError:
        return InstanceRecord(c.instance, c.service, "", 0, container=c.name)
    address = c.address_on(service.tier)
    return InstanceRecord(c.instance, c.service, address, service.port, container=c.name)


def health(docker: Docker, topology: Topology, c: Container) -> str:
    if not c.running:
        return "down"
    try:
        service = topology.service(c.service)
    except KeyError:
        return "unknown"
    if service.kind is Kind.APP:
        address = c.address_on(service.tier)
        port = service.admin_port or service.port  # the gateway's /ready is on its admin port
        body = get_json(f"http://{address}:{port}/ready") if address else None
        status = body.get("status") if isinstance(body, dict) else None
        return status if isinstance(status, str) else "unavailable"
    # Docker checks rarely (health.DRIVER_INTERVAL): ask the container now if it has not yet.
    return "ready" if passes(docker, c) else "unavailable"


def stats(docker: Docker, ids: list[str]) -> dict[str, tuple[float | None, float | None]]:
    """Short id → (CPU %, memory MiB), as `docker stats --no-stream` shows them."""
    if not ids:
        return {}
    out = docker.run(
        "stats", "--no-stream", "--format", "{{.ID}}\t{{.CPUPerc}}\t{{.MemUsage}}", *ids,
        what="docker stats", check=False,
    )  # fmt: skip
    usage = {}
    for line in out.stdout.splitlines():
        parts = line.split("\t")
        if len(parts) == 3:
            usage[parts[0][:12]] = (_percent(parts[1]), _mebibytes(parts[2].split("/")[0]))
    return usage


def _percent(text: str) -> float | None:
    try:
        return float(text.strip().rstrip("%"))
    except ValueError:
        return None


def _mebibytes(text: str) -> float | None:
    text = text.strip().lower()
    number = text.rstrip("abcdefghijklmnopqrstuvwxyz")
    try:
        return float(number) * _UNITS[text[len(number) :].strip()] / 2**20
    except (ValueError, KeyError):
        return None
