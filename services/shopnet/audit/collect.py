"""Run the probe inside every instance of the running stack, in whichever mode it runs.

local/netns: in every namespace of the instance's main process (`nsenter --target
PID --all`, the pid from the process's own pidfile); docker: `docker exec`. The
host's namespaces are ours (/proc/self/ns — /proc/1/ns may be unreadable), so
"shared with the host" means "the same namespace as the `shopnet audit` process".
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shopnet.audit import probe, score
from shopnet.errors import DriverError, StateError
from shopnet.runtime import process
from shopnet.runtime.base import Driver
from shopnet.runtime.capabilities import ContainerEngine

PROBE_TIMEOUT = 15.0


@dataclass(frozen=True, slots=True)
class InstanceAudit:
    """One instance, measured from inside."""

    instance: str
    service: str
    facts: probe.Facts
    shared: dict[str, bool]
    """Namespace → whether it is the host's."""
    score: float
    failed: tuple[str, ...] = field(default=())

    def as_dict(self) -> dict[str, Any]:
        f = self.facts
        return {
            "instance": self.instance,
            "service": self.service,
            "uid": f.uid,
            "gid": f.gid,
            "cap_eff": f"{f.cap_eff:016x}",
            "cap_bnd": f"{f.cap_bnd:016x}",
            "no_new_privs": f.no_new_privs,
            "seccomp": f.seccomp,
            "shared_namespaces": sorted(n for n, s in self.shared.items() if s),
            "root_fs_writable": f.root_writable,
            "host_processes_visible": self.shared.get("pid", True),
            "visible_processes": f.visible_processes,
            "memory_limit_bytes": f.memory_limit,
            "cpu_limit": f.cpu_limit,
            "pids_limit": f.pids_limit,
            "apparmor": f.apparmor,
            "visible_host_paths": (
                None if f.visible_host_paths is None else list(f.visible_host_paths)
            ),
            "exposure": self.score,
            "exposure_label": score.label(self.score),
            "failed_checks": list(self.failed),
        }


def host_namespaces() -> dict[str, str]:
    return {ns: os.readlink(f"/proc/self/ns/{ns}") for ns in probe.NAMESPACES}


def audit(driver: Driver) -> list[InstanceAudit]:
    """Probe every instance of `driver`'s running stack."""
    state = driver.state()
    if state is None:
        raise StateError(f"no {driver.mode} stack is running")
    host = host_namespaces()
    mounts = probe.host_mounts()
    engine = driver if isinstance(driver, ContainerEngine) else None
    pids = {} if engine is not None else _main_pids(driver.layout.pids)
    results = []
    for record in state.instances:
        if engine is not None:
            if not record.container:
                raise StateError(f"{record.name} has no container")
            docker = engine.engine_argv(record.container)
            argv: Sequence[str] = (*docker, "exec", record.container, "sh", "-c", probe.SCRIPT)
            argv = (*argv, "probe", "1")
        else:
            pid = pids.get(record.name)
            if pid is None:
                raise StateError(f"{record.name} is not running")
            argv = _hosted_argv(pid, host)
        facts = probe.with_host_mounts(probe.parse(_run(record.name, argv)), mounts)
        shared = {ns: facts.namespaces.get(ns) == host[ns] for ns in probe.NAMESPACES}
        exposure, failed = score.exposure(facts, shared)
        results.append(
            InstanceAudit(record.name, record.service, facts, shared, exposure, tuple(failed))
        )
    return results


def _main_pids(pid_dir: Path) -> dict[str, int]:
    return {r.instance: r.pid for r in process.records(pid_dir)}


def _hosted_argv(pid: int, host: dict[str, str]) -> tuple[str, ...]:
    """The probe in all of `pid`'s namespaces, told the pid its main process has there."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        theirs = {ns: os.readlink(f"/proc/{pid}/ns/{ns}") for ns in probe.NAMESPACES}
    except OSError as exc:
        raise DriverError(f"cannot inspect pid {pid}: {exc.strerror}") from None
    nspid = next(line.split()[-1] for line in status.splitlines() if line.startswith("NSpid:"))
    command = ("sh", "-c", probe.SCRIPT, "probe", nspid)
    if theirs == host:
        return command
    return ("nsenter", f"--target={pid}", "--all", "--", *command)


def _run(instance: str, argv: Sequence[str]) -> str:
    try:
        done = subprocess.run(
            list(argv), capture_output=True, text=True, timeout=PROBE_TIMEOUT, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise DriverError(f"probing {instance} failed: {exc}") from None
    if done.returncode != 0 or "== status" not in done.stdout:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        raise DriverError(f"probing {instance} failed: {tail[0]}")
    return done.stdout
