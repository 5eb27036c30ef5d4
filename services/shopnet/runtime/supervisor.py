"""Keep a local or netns stack running: restart crashed instances, like Docker's `unless-stopped`.

`up` starts one supervisor per stack, detached, as the last step (`start`); it runs as
`python -m shopnet.runtime.supervisor ROOT MODE [TOPOLOGY]` and is a process of ours
like any other: its own pidfile (stop phase -1, so `down` stops it *before* the
instances and nothing is restarted on the way down) and the owner tag.

It is event-driven: one pidfd per instance (pidfd_open works for any process, not only
our children) in one select(); it wakes only when an instance exits, for a backoff
timer, or for a signal. An instance that exits is started again from the spec
`process.spawn` saved (in its namespace and cgroups: the driver's `enter_for_restart`)
after a backoff doubling from 0.1 s to 10 s, reset once it ran 10 s; after
RESTART_LIMIT restarts within RESTART_WINDOW seconds it is left down ("gave up").
An instance marked stopped (`mark_stopped`) is left down too.

Crash-safe: every instance has its own pidfile, so `down` works without the
supervisor; a new supervisor adopts whatever runs (`up` starts one when the stack
runs without it). What it knows is in `supervisor.json`, which `status` reads.
"""

from __future__ import annotations

import json
import logging
import os
import select
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

from shopnet.runtime import process
from shopnet.runtime.state import InstanceRecord, Layout, StackState

log = logging.getLogger("shopnet.supervisor")


@runtime_checkable
class SupervisedDriver(Protocol):
    """What the supervisor needs of a driver: a hosted one (shopnet.runtime.hosted)."""

    @property
    def mode(self) -> str: ...

    @property
    def layout(self) -> Layout: ...

    def state(self) -> StackState | None: ...

    def enter_for_restart(self, record: InstanceRecord) -> Callable[[], None] | None:
        """What a restarted instance's child runs before exec (joining its namespace)."""
        ...

    def oom_kills(self, record: InstanceRecord) -> int | None:
        """The kernel's OOM kills in the instance's memory cgroup so far; None if unknown."""
        ...


NAME = "supervisor"
RESTART_LIMIT = 10
RESTART_WINDOW = 120.0
BACKOFF_FIRST = 0.1
BACKOFF_MAX = 10.0
HEALTHY_AFTER = 10.0
"""Seconds of running after which the backoff starts over (Docker: 10 s)."""


@dataclass(frozen=True, slots=True)
class Supervised:
    """What the supervisor says about one instance (in `supervisor.json`)."""

    restarts: int = 0
    last_exit: str = ""
    """E.g. `exit 1`, `signal SIGKILL`, `unknown` (a process it did not start itself),
    `OOM kill (signal SIGKILL)` when its memory cgroup's OOM-kill count grew meanwhile."""
    state: str = "running"
    """running / restarting / gave up / stopped."""


def status_file(layout: Layout) -> Path:
    return layout.dir / "supervisor.json"


def read_status(layout: Layout) -> dict[str, Supervised]:
    """The supervisor's view per instance; empty when it never ran."""
    try:
        data = json.loads(status_file(layout).read_text())
    except (OSError, ValueError):
        return {}
    return {name: Supervised(**fields) for name, fields in data.get("instances", {}).items()}


def running(layout: Layout) -> bool:
    return any(r.instance == NAME for r in process.records(layout.pids))


def mark_stopped(layout: Layout, instance: str) -> None:
    """Say that `instance` is being stopped on purpose, so it is not restarted."""
    (layout.pids / f"{instance}.stopped").touch()


def forget(layout: Layout) -> None:
    """Remove what the supervisor kept (for `down`, once every process is gone)."""
    status_file(layout).unlink(missing_ok=True)
    for marker in layout.pids.glob("*.stopped"):
        marker.unlink()


def start(driver: SupervisedDriver, topology_path: str | None = None) -> int:
    """Start the stack's supervisor, detached; returns its pid."""
    layout = driver.layout
    argv = [sys.executable, "-m", "shopnet.runtime.supervisor", str(layout.dir.parent), driver.mode]
    if topology_path:
        argv.append(topology_path)
    spec = process.ProcessSpec(
        instance=NAME, argv=tuple(argv), log_path=layout.log(NAME), stop_phase=-1
    )
    return process.spawn(spec, owner=str(layout.dir), pid_dir=layout.pids)


@dataclass(slots=True)
class _Watch:
    record: InstanceRecord
    pid: int | None = None
    fd: int | None = None
    child: bool = False
    started: float = 0.0
    backoff: float = BACKOFF_FIRST
    due: float | None = None
    """When to start it again; None while it runs (or when left down)."""
    history: tuple[float, ...] = ()
    """Times of recent restarts, for the limit."""
    oom_kills: int | None = None
    """Its memory cgroup's OOM-kill count when it was last seen running (None: unknown)."""
    status: Supervised = Supervised()


class Supervisor:
    def __init__(self, driver: SupervisedDriver) -> None:
        self.driver = driver
        self.layout = driver.layout
        state = driver.state()
        records = state.instances if state is not None else []
        self.watches = {r.name: _Watch(r) for r in records}
        previous = read_status(self.layout)  # a supervisor before us (killed) counted these
        for name, watch in self.watches.items():
            watch.status = previous.get(name, Supervised())
        self._stopping = False

    # -- the loop -------------------------------------------------------------

    def run(self) -> None:
        wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        signal.set_wakeup_fd(wake_w)
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, self._stop)
        signal.signal(signal.SIGCHLD, lambda *_: None)  # wake select() to reap
        pids = {r.instance: r.pid for r in process.records(self.layout.pids)}
        now = time.monotonic()
        for name, watch in self.watches.items():
            if name in pids:
                self._watch(watch, pids[name], child=False, now=now)
            else:  # already down when we came: start it like any crashed instance
                self._exited(watch, "unknown", now)
        self._save()
        log.info("supervising", extra={"instances": sorted(self.watches)})
        while not self._stopping:
            fds = {w.fd: w for w in self.watches.values() if w.fd is not None}
            dues = [w.due for w in self.watches.values() if w.due is not None]
            timeout = max(0.0, min(dues) - time.monotonic()) if dues else None
            try:
                ready, _, _ = select.select([wake_r, *fds], [], [], timeout)
            except InterruptedError:
                continue
            if wake_r in ready:
                while True:
                    try:
                        if not os.read(wake_r, 64):
                            break
                    except BlockingIOError:
                        break
            now = time.monotonic()
            for fd in ready:
                if fd in fds and not self._stopping:
                    watch = fds[fd]
                    self._exited(watch, self._oom_or(watch, self._exit_of(watch)), now)
            for watch in self.watches.values():
                if watch.due is not None and watch.due <= now and not self._stopping:
                    self._restart(watch, now)
            self._save()
        log.info("stopping: instances are left to `down`")

    def _stop(self, *_: object) -> None:
        self._stopping = True

    # -- per instance ---------------------------------------------------------

    def _watch(self, watch: _Watch, pid: int, *, child: bool, now: float) -> None:
        try:
            watch.fd = os.pidfd_open(pid)
        except ProcessLookupError:
            watch.fd = None
            self._exited(watch, "unknown", now)
            return
        watch.pid, watch.child, watch.started, watch.due = pid, child, now, None
        watch.oom_kills = self._oom_kills(watch)

    def _oom_kills(self, watch: _Watch) -> int | None:
        try:
            return self.driver.oom_kills(watch.record)
        except Exception:  # a count we cannot read must not stop supervision
            return None

    def _oom_or(self, watch: _Watch, how: str) -> str:
        """`how`, named an OOM kill when the instance's cgroup counted one since it started
        (a SIGKILL alone does not say who sent it; the kernel's count does)."""
        before, after = watch.oom_kills, self._oom_kills(watch)
        if before is not None and after is not None and after > before:
            return f"OOM kill ({how})"
        return how

    def _exit_of(self, watch: _Watch) -> str:
        """How the instance ended: exact for our children, from /proc while a zombie, else unknown."""
        assert watch.pid is not None
        if watch.child:
            try:
                _, status = os.waitpid(watch.pid, 0)
            except ChildProcessError:
                return "unknown"
            return _describe(status)
        try:  # field 52 of /proc/PID/stat: the wait status, readable until it is reaped
            fields = Path(f"/proc/{watch.pid}/stat").read_text().rsplit(")", 1)[1].split()
            return _describe(int(fields[49])) if fields[0] == "Z" else "unknown"
        except (OSError, IndexError, ValueError):
            return "unknown"

    def _exited(self, watch: _Watch, how: str, now: float) -> None:
        if watch.fd is not None:
            os.close(watch.fd)
        watch.fd, watch.pid = None, None
        name = watch.record.name
        if (self.layout.pids / f"{name}.stopped").exists():
            watch.status = Supervised(watch.status.restarts, how, "stopped")
            log.info("%s stopped on purpose (%s); leaving it down", name, how)
            return
        if now - watch.started >= HEALTHY_AFTER:
            watch.backoff = BACKOFF_FIRST
        watch.history = tuple(t for t in watch.history if now - t < RESTART_WINDOW)
        if len(watch.history) >= RESTART_LIMIT:
            watch.status = Supervised(watch.status.restarts, how, "gave up")
            log.error(
                "%s exited (%s) after %d restarts in %.0f s; giving up",
                name,
                how,
                RESTART_LIMIT,
                RESTART_WINDOW,
            )
            return
        watch.due = now + watch.backoff
        watch.status = Supervised(watch.status.restarts, how, "restarting")
        log.warning("%s exited (%s); restarting in %.1f s", name, how, watch.backoff)
        watch.backoff = min(watch.backoff * 2, BACKOFF_MAX)

    def _restart(self, watch: _Watch, now: float) -> None:
        name = watch.record.name
        watch.due = None
        watch.history = (*watch.history, now)
        restarts = watch.status.restarts + 1
        try:
            spec = process.load_spec(self.layout.pids, name)
            enter = self.driver.enter_for_restart(watch.record)
            pid = process.spawn(
                spec, owner=str(self.layout.dir), pid_dir=self.layout.pids, enter=enter
            )
        except Exception as exc:  # one instance's failure must not stop the others
            log.error("%s: could not start it again: %s", name, exc)
            watch.status = Supervised(restarts, watch.status.last_exit, "restarting")
            self._exited(watch, f"restart failed: {exc}", now)
            return
        watch.status = Supervised(restarts, watch.status.last_exit, "running")
        log.info("%s started again (pid %d, restart %d)", name, pid, restarts)
        self._watch(watch, pid, child=True, now=now)

    def _save(self) -> None:
        path = status_file(self.layout)
        data = {
            "pid": os.getpid(),
            "instances": {n: asdict(w.status) for n, w in sorted(self.watches.items())},
        }
        tmp = path.with_suffix(".tmp")
        # Private like every other state file (it names pids and exit statuses).
        with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as out:
            out.write(json.dumps(data, indent=1) + "\n")
        tmp.chmod(0o600)  # a file left by an older version keeps its mode otherwise
        tmp.replace(path)


def _describe(wait_status: int) -> str:
    if os.WIFSIGNALED(wait_status):
        return f"signal {signal.Signals(os.WTERMSIG(wait_status)).name}"
    return f"exit {os.waitstatus_to_exitcode(wait_status)}"


def main(argv: list[str]) -> int:
    from shopnet.common import logs
    from shopnet.errors import ConfigError
    from shopnet.runtime.base import make_driver
    from shopnet.runtime.progress import Progress
    from shopnet.topology import load

    logs.configure(service=NAME, instance_id=f"{NAME}-1")
    root, mode = Path(argv[0]), argv[1]
    topology = load(Path(argv[2]) if len(argv) > 2 else None)
    with open(os.devnull, "w") as quiet:
        driver = make_driver(mode, topology=topology, root=root, progress=Progress(quiet))
        if not isinstance(driver, SupervisedDriver):
            raise ConfigError(f"{mode} mode runs no supervisor (its instances are not hosted)")
        Supervisor(driver).run()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
