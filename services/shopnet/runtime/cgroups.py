"""Per-instance CPU, memory and process limits (topology `cpus`, `memory_mb`; `pids.max`
from `shopnet.runtime.pids`), where the kernel offers them. Used by netns mode (with the
topology prefix as parent) and by local mode started as root.

Each instance gets `<controller root>/<parent>/<instance>`, like Docker's
cgroupfs driver keeps `/docker/<id>`:

    cgroup v2 (one hierarchy)     cpu.max = "<quota> <period>", memory.max = bytes, pids.max
    cgroup v1 (one per controller, e.g. /sys/fs/cgroup/cpu, …/memory and …/pids)
                                  cpu.cfs_quota_us / cpu.cfs_period_us,
                                  memory.limit_in_bytes, pids.max

Controllers are found in /proc/self/mountinfo, per controller (hybrid hosts mount
cgroup2 *and* v1 hierarchies; a controller is bound to one of them). Limits
that cannot be applied are reported as reason strings, never raised: the
testbed still runs, unconstrained, and says so.
"""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass
from pathlib import Path

from shopnet.runtime import pids, process
from shopnet.topology.model import Service

CPU_PERIOD_US = 100_000
CONTROLLERS = ("cpu", "memory", "pids")
MOUNTINFO = Path("/proc/self/mountinfo")


@dataclass(frozen=True, slots=True)
class Controller:
    """Where one cgroup controller is mounted."""

    name: str
    """`cpu`, `memory` or `pids`."""
    version: int
    """1 or 2."""
    root: Path
    """Mount point of the hierarchy holding it."""


@dataclass(frozen=True, slots=True)
class Limits:
    """The cgroups of one instance and what was (not) applied."""

    instance: str
    paths: tuple[Path, ...]
    """Cgroup directories a process of the instance joins (one per v1 hierarchy)."""
    applied: tuple[str, ...]
    """E.g. `cpu 0.5 (cgroup v1 cfs quota 50000/100000 us)`."""
    problems: tuple[str, ...]
    """Why a limit could not be applied; empty when all were."""


def controllers(mountinfo: Path = MOUNTINFO) -> dict[str, Controller]:
    """The cpu, memory and pids controllers, wherever mounted.

    A controller bound to a v1 hierarchy is absent from cgroup2's list, so v1 wins.
    """
    found: dict[str, Controller] = {}
    try:
        lines = mountinfo.read_text().splitlines()
    except OSError:
        return found
    for line in lines:
        before, _, after = line.partition(" - ")
        mount_point = Path(before.split()[4])
        fstype, _source, options = [*after.split(), "", "", ""][:3]
        if fstype == "cgroup":
            for name in CONTROLLERS:
                if name in options.split(","):
                    found[name] = Controller(name, 1, mount_point)
        elif fstype == "cgroup2":
            try:
                available = (mount_point / "cgroup.controllers").read_text().split()
            except OSError:
                continue
            for name in CONTROLLERS:
                if name in available:
                    found.setdefault(name, Controller(name, 2, mount_point))
    return found


def _write(path: Path, value: str) -> str | None:
    """None on success, else the reason."""
    try:
        path.write_text(value)
    except OSError as exc:
        return f"{path}: {exc.strerror}"
    return None


def _enable_v2(root: Path, parent: Path, name: str) -> str | None:
    """Delegate controller `name` down to our instances (v2: the parents' subtree_control).

    Writing "+cpu" where it is already enabled is a no-op for the kernel.
    """
    for directory in (root, parent):
        if problem := _write(directory / "cgroup.subtree_control", f"+{name}"):
            return problem
    return None


def apply(
    parent_name: str,
    instance: str,
    service: Service,
    *,
    only: tuple[str, ...] = CONTROLLERS,
    mountinfo: Path = MOUNTINFO,
) -> Limits:
    """Create the instance's cgroups under `parent_name` and set its limits (idempotent);
    `only` those of the controllers named (local mode: pids alone)."""
    found = controllers(mountinfo)
    paths: list[Path] = []
    applied: list[str] = []
    problems: list[str] = []
    for name in only:
        ctl = found.get(name)
        if ctl is None:
            problems.append(f"{name} limit not applied: no {name} cgroup controller is mounted")
            continue
        parent = ctl.root / parent_name
        path = parent / instance
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            problems.append(f"{name} limit not applied: cannot create {path}: {exc.strerror}")
            continue
        if path not in paths:
            paths.append(path)
        if name == "cpu":
            quota = max(1000, round(service.cpus * CPU_PERIOD_US))
            if ctl.version == 2:
                problem = _enable_v2(ctl.root, parent, "cpu") or _write(
                    path / "cpu.max", f"{quota} {CPU_PERIOD_US}"
                )
            else:
                problem = _write(path / "cpu.cfs_period_us", str(CPU_PERIOD_US)) or _write(
                    path / "cpu.cfs_quota_us", str(quota)
                )
            label = f"cpu {service.cpus:g} (cgroup v{ctl.version} quota {quota}/{CPU_PERIOD_US} us)"
        elif name == "pids":
            most = pids.limit(service)
            problem = (
                _enable_v2(ctl.root, parent, "pids") if ctl.version == 2 else None
            ) or _write(path / "pids.max", str(most))
            label = f"pids {most} (cgroup v{ctl.version})"
        else:
            limit = service.memory_mb * 1024 * 1024
            if ctl.version == 2:
                problem = _enable_v2(ctl.root, parent, "memory") or _write(
                    path / "memory.max", str(limit)
                )
            else:
                problem = _write(path / "memory.limit_in_bytes", str(limit))
            label = f"memory {service.memory_mb} MiB (cgroup v{ctl.version})"
        if problem:
            problems.append(f"{name} limit not applied: {problem}")
        else:
            applied.append(label)
    return Limits(instance, tuple(paths), tuple(applied), tuple(problems))


def oom_kills(parent_name: str, instance: str, *, mountinfo: Path = MOUNTINFO) -> int | None:
    """How many processes the kernel's OOM killer has ended in the instance's memory cgroup
    (v2 `memory.events`, v1 `memory.oom_control`: `oom_kill N`); None when unknown."""
    ctl = controllers(mountinfo).get("memory")
    if ctl is None:
        return None
    events = "memory.events" if ctl.version == 2 else "memory.oom_control"
    try:
        text = (ctl.root / parent_name / instance / events).read_text()
    except OSError:
        return None
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        if key == "oom_kill" and value.strip().isdigit():
            return int(value)
    return None


def place(limits: Limits, pid: int | str = 0) -> list[str]:
    """Move `pid` (0: the calling process) into the instance's cgroups; returns problems.

    Usable between fork and exec, so the service and all its workers start inside.
    """
    problems = []
    for path in limits.paths:
        problem = _write(path / "cgroup.procs", str(pid or os.getpid()))
        if problem:
            problems.append(problem)
    return problems


def _ours(parent_name: str) -> list[Path]:
    """Our parent cgroups, one per hierarchy."""
    roots = {ctl.root for ctl in controllers().values()}
    return sorted(root / parent_name for root in roots if (root / parent_name).is_dir())


def find(parent_name: str) -> list[str]:
    """Our cgroups (parents and instances), as paths."""
    found = []
    for parent in _ours(parent_name):
        found.append(str(parent))
        found += sorted(str(child) for child in parent.iterdir() if child.is_dir())
    return found


def _procs(path: Path) -> list[int]:
    try:
        return [int(p) for p in (path / "cgroup.procs").read_text().split()]
    except OSError:
        return []


def remove(parent_name: str) -> tuple[list[str], list[str]]:
    """Stop what still runs in our cgroups, then remove them; (removed, problems)."""
    removed: list[str] = []
    problems: list[str] = []
    for parent in _ours(parent_name):
        children = [c for c in parent.iterdir() if c.is_dir()]
        strays = [pid for path in (*children, parent) for pid in _procs(path)]
        if strays:
            process.stop([(pid, signal.SIGTERM) for pid in strays], timeout=5.0)
        for path in (*children, parent):
            try:
                path.rmdir()
                removed.append(f"cgroup {path}")
            except FileNotFoundError:
                continue
            except OSError as exc:
                problems.append(f"cgroup {path}: {exc.strerror}")
    return removed, problems
