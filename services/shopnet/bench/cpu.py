"""Where the CPU goes: microseconds of CPU per request, by component, over one run.

Throughput alone says *that* a mode costs more; this says *where*. Around the
main run the bench reads the CPU time of every instance's process tree
(/proc/PID/stat, threads and children included), of the load generator (our
reaped children, via getrusage) and of the whole machine (/proc/stat), and
divides each by the requests served:

    gateway, product, redis, …   user + system time of those processes (and of the
                                 helpers beside them: nginx, calibration)
    gateway system, …            of which system time (SYSTEM), a part, not a component:
                                 on a veth the receiver's stack often runs in the
                                 sender's context, so packet work lands here
    wrk                          the load generator itself
    kernel softirq               packet processing (veth, bridges, routing, netfilter,
                                 conntrack) wherever it ran; with tick-based accounting
                                 (no CONFIG_IRQ_TIME_ACCOUNTING, as here) the part run
                                 in a process's context — nearly all of it on veths —
                                 is in that process's system time too
    other                        the rest of the machine's busy time (dockerd,
                                 idle-time housekeeping, …)
"""

from __future__ import annotations

import os
import resource
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from shopnet.runtime.base import InstanceStatus

_TICK_US = 1e6 / os.sysconf("SC_CLK_TCK")
SYSTEM = " system"
"""Suffix of a component's system-time part (`gateway system`): not summed into totals."""


def is_part(name: str) -> bool:
    return name.endswith(SYSTEM)


def components(profile: Mapping[str, float]) -> dict[str, float]:
    """A CPU profile without the system-time parts (what adds up to the total)."""
    return {name: value for name, value in profile.items() if not is_part(name)}


@dataclass(frozen=True, slots=True)
class Snapshot:
    services: dict[str, float]
    """Service name → CPU seconds of its instances' process trees."""
    system: dict[str, float]
    """Service name → of which system (kernel) seconds."""
    children: float
    """CPU seconds of this process's reaped children (the wrk runs)."""
    busy: float
    """Machine-wide busy seconds (all cores)."""
    softirq: float


def _stats() -> dict[int, tuple[int, int, int]]:
    """pid → (ppid, utime + stime ticks, stime ticks) for every process."""
    found = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            fields = Path(entry.path, "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        found[int(entry.name)] = (
            int(fields[1]),
            int(fields[11]) + int(fields[12]),
            int(fields[12]),
        )
    return found


def _machine() -> tuple[float, float]:
    """(busy, softirq) seconds from the aggregate `cpu` line of /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields[:8]
    busy = user + nice + system + irq + softirq + steal
    return busy * _TICK_US / 1e6, softirq * _TICK_US / 1e6


def snapshot(rows: list[InstanceStatus], helpers: Mapping[str, int] | None = None) -> Snapshot:
    """`helpers`: name → pid of processes beside the stack (the nginx peer, the calibration
    handler), each counted as a component of its own."""
    stats = _stats()
    children: dict[int, list[int]] = {}
    for pid, (ppid, _, _) in stats.items():
        children.setdefault(ppid, []).append(pid)
    roots = [(row.service, row.pid) for row in rows if row.pid]
    roots += list((helpers or {}).items())
    services: dict[str, float] = {}
    system: dict[str, float] = {}
    for name, root in roots:
        if root not in stats:
            continue
        ticks, sys_ticks, todo, seen = 0, 0, [root], set()
        while todo:
            pid = todo.pop()
            if pid in seen or pid not in stats:
                continue
            seen.add(pid)
            ticks += stats[pid][1]
            sys_ticks += stats[pid][2]
            todo += children.get(pid, [])
        services[name] = services.get(name, 0.0) + ticks * _TICK_US / 1e6
        system[name] = system.get(name, 0.0) + sys_ticks * _TICK_US / 1e6
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    busy, softirq = _machine()
    return Snapshot(services, system, usage.ru_utime + usage.ru_stime, busy, softirq)


def per_request(before: Snapshot, after: Snapshot, requests: int) -> dict[str, float]:
    """Microseconds of CPU per request, by component (see the module docstring)."""
    if requests <= 0:
        return {}

    def us(seconds: float) -> float:
        return round(seconds * 1e6 / requests, 1)

    result = {
        name: us(after.services[name] - before.services.get(name, 0.0))
        for name in sorted(after.services)
    }
    result["wrk"] = us(after.children - before.children)
    result["kernel softirq"] = us(after.softirq - before.softirq)
    accounted = sum(result.values())
    result["other"] = round(max(0.0, us(after.busy - before.busy) - accounted), 1)
    result["total"] = us(after.busy - before.busy)
    for name in sorted(after.system):  # parts, added after the sum above
        result[name + SYSTEM] = us(after.system[name] - before.system.get(name, 0.0))
    return result
