"""Starting and stopping the processes of a stack, and finding them again after a crash.

Every process we start writes its own pidfile (pid, start time, stop signal)
*in the child, before exec*: once a process of ours exists, its record is on
disk, even if `up` is killed with SIGKILL the next instant. `down` stops what
the records name, checking the start time so a recycled pid is never signalled.
Our own services also carry SHOPNET_OWNER in their environment, which catches
their forked workers. (PostgreSQL and Redis overwrite their environment block
with their process titles, so the pidfile, not the tag, is what finds them.)
"""

from __future__ import annotations

import ctypes
import json
import os
import pwd
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

from shopnet.errors import PreflightError

PR_SET_PDEATHSIG = 1  # prctl(2)
OWNER_ENV = "SHOPNET_OWNER"
INSTANCE_ENV = "SHOPNET_INSTANCE"

_BASE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass(frozen=True, slots=True)
class ProcessSpec:
    """How to run one instance's process."""

    instance: str
    argv: tuple[str, ...]
    log_path: Path
    env: Mapping[str, str] = field(default_factory=dict)
    user: str | None = None
    """Run as this user when we are root (PostgreSQL refuses to run as root)."""
    stop_signal: int = signal.SIGTERM
    """PostgreSQL's fast shutdown is SIGINT; its SIGTERM waits for clients to leave."""
    stop_phase: int = 0
    """`down` stops phase 0 (the services) before phase 1 (the datastores they use)."""


@dataclass(frozen=True, slots=True)
class Record:
    """A started process as its pidfile describes it."""

    instance: str
    pid: int
    start_time: int
    stop_signal: int
    stop_phase: int


def is_root() -> bool:
    return os.geteuid() == 0


def unprivileged_user(*candidates: str) -> str | None:
    """The first existing user among `candidates` (then `nobody`), or None when not root."""
    if not is_root():
        return None
    for name in (*candidates, "nobody"):
        try:
            pwd.getpwnam(name)
        except KeyError:
            continue
        return name
    tried = ", ".join((*candidates, "nobody"))
    raise PreflightError(f"no unprivileged user to run datastores as (tried {tried})")


def chown_to(path: Path, user: str | None) -> None:
    if user is not None:
        entry = pwd.getpwnam(user)
        shutil.chown(path, entry.pw_uid, entry.pw_gid)


def start_time(pid: int | str) -> int | None:
    """Clock ticks since boot when `pid` started (field 22 of /proc/PID/stat)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[19])


def die_with_parent() -> None:
    """In a child: get SIGKILL when the thread that started it dies (even by SIGKILL)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def spawn(
    spec: ProcessSpec,
    *,
    owner: str,
    pid_dir: Path,
    enter: Callable[[], None] | None = None,
    with_parent: bool = False,
) -> int:
    """Start `spec` detached (own session, output to its log file); returns the pid.

    `enter` runs in the child before anything else, e.g. to join a network namespace
    (which needs root, so privileges are dropped only after it). `with_parent`: the
    process dies with the caller (a test's servers, which no `down` ever looks for).
    """
    parent = os.getpid()
    bin_dir = str(Path(sys.executable).parent)
    env = {
        "PATH": f"{bin_dir}:{_BASE_PATH}",
        "LANG": "C.UTF-8",
        "HOME": "/tmp" if spec.user else os.environ.get("HOME", "/tmp"),
        **spec.env,
        OWNER_ENV: owner,
        INSTANCE_ENV: spec.instance,
    }
    pid_dir.mkdir(parents=True, exist_ok=True)
    pidfile = pid_dir / f"{spec.instance}.pid"
    user = pwd.getpwnam(spec.user) if spec.user and is_root() else None

    def in_child() -> None:
        if enter is not None:
            enter()
        record = f"{os.getpid()} {start_time('self')} {int(spec.stop_signal)} {spec.stop_phase}\n"
        fd = os.open(pidfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.write(fd, record.encode())
        os.close(fd)
        if user is not None:
            os.setgroups([])
            os.setgid(user.pw_gid)
            os.setuid(user.pw_uid)
        if with_parent:  # after the uid change, which clears the parent-death signal
            die_with_parent()
            if os.getppid() != parent:  # the parent died before the signal was armed
                os._exit(1)

    save_spec(spec, pid_dir)
    spec.log_path.parent.mkdir(parents=True, exist_ok=True)
    # Logs are private (0600, root's): the process writes through the inherited descriptor.
    with open(os.open(spec.log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600), "ab") as log:
        os.fchmod(log.fileno(), 0o600)
        proc = subprocess.Popen(
            spec.argv,
            env=env,
            cwd="/",
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=in_child,
        )
    # Detached on purpose: `down`, maybe from another process, stops it from its record.
    # Mark the Popen finished so its destructor does not warn about a child it never waits for.
    proc.returncode = 0
    return proc.pid


def save_spec(spec: ProcessSpec, pid_dir: Path) -> None:
    """Keep how `spec` was started, so a supervisor can start it again (0600: env has secrets)."""
    data = {**asdict(spec), "log_path": str(spec.log_path), "env": dict(spec.env)}
    path = pid_dir / f"{spec.instance}.spec.json"
    fd = os.open(path.with_suffix(".tmp"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(data, out)
    path.with_suffix(".tmp").replace(path)


def load_spec(pid_dir: Path, instance: str) -> ProcessSpec:
    data = json.loads((pid_dir / f"{instance}.spec.json").read_text())
    return ProcessSpec(**{**data, "argv": tuple(data["argv"]), "log_path": Path(data["log_path"])})


def records(pid_dir: Path) -> list[Record]:
    """Records of processes that still run (same pid *and* same start time)."""
    found = []
    for pidfile in sorted(pid_dir.glob("*.pid")):
        try:
            pid, started, sig, phase = (int(x) for x in pidfile.read_text().split())
        except (OSError, ValueError):
            continue
        if start_time(pid) == started and alive(pid):
            found.append(Record(pidfile.stem, pid, started, sig, phase))
    return found


def tagged_processes(owner: str) -> dict[int, str]:
    """pid → instance name of every live process whose environment carries our owner tag."""
    needle = f"{OWNER_ENV}={owner}".encode()
    prefix = f"{INSTANCE_ENV}=".encode()
    found = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            variables = Path(entry.path, "environ").read_bytes().split(b"\0")
        except OSError:  # gone, or not ours to read
            continue
        if needle in variables:
            names = [v[len(prefix) :].decode() for v in variables if v.startswith(prefix)]
            found[int(entry.name)] = names[0] if names else "?"
    return found


def alive(pid: int) -> bool:
    """True while `pid` exists and is not a zombie (a zombie child of ours is reaped here)."""
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return False
    except ChildProcessError:
        pass
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def stop(targets: Iterable[tuple[int, int]], *, timeout: float = 15.0) -> list[int]:
    """Send each (pid, signal), wait up to `timeout`, SIGKILL the rest; returns pids killed hard."""
    return stop_timed(targets, timeout=timeout)[1]


def stop_timed(
    targets: Iterable[tuple[int, int]], *, timeout: float = 15.0
) -> tuple[dict[int, float], list[int]]:
    """Like `stop`; also returns how long each pid that obeyed took to exit, in seconds."""
    started = time.monotonic()
    pending = [pid for pid, sig in targets if _signal(pid, sig)]
    took: dict[int, float] = {}
    deadline = started + timeout
    while pending and time.monotonic() < deadline:
        still = [pid for pid in pending if alive(pid)]
        took.update((pid, time.monotonic() - started) for pid in pending if pid not in still)
        pending = still
        if pending:
            time.sleep(0.02)
    for pid in pending:
        _signal(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5.0
    while any(alive(pid) for pid in pending) and time.monotonic() < deadline:
        time.sleep(0.05)
    return took, pending


@dataclass(frozen=True, slots=True)
class Stopped:
    """What `stop_all_timed` did to one process."""

    record: Record
    seconds: float | None
    """From its stop signal to its exit; None when it had to be killed."""


def stop_all(pid_dir: Path, *, owner: str, timeout: float = 15.0) -> list[str]:
    """Stop every process of a stack, services before datastores; returns what needed SIGKILL."""
    stopped = stop_all_timed(pid_dir, owner=owner, timeout=timeout)
    return [s.record.instance for s in stopped if s.seconds is None]


def stop_all_timed(pid_dir: Path, *, owner: str, timeout: float = 15.0) -> list[Stopped]:
    """Stop every process of a stack in stop_phase order (the supervisor, the services,
    then what they call on their way out); how long each took, None if it was killed."""
    stopped: list[Stopped] = []
    # Read the records again before each phase: a process started meanwhile (a restart by
    # the supervisor just before it stopped) is stopped with its phase, not missed.
    done: set[int] = set()
    while pending := [r for r in records(pid_dir) if r.pid not in done]:
        phase = min(r.stop_phase for r in pending)
        group = [r for r in pending if r.stop_phase == phase]
        took, _ = stop_timed(((r.pid, r.stop_signal) for r in group), timeout=timeout)
        stopped += [Stopped(r, took.get(r.pid)) for r in group]
        done |= {r.pid for r in group}
    # Whatever still carries our tag (workers orphaned by a SIGKILLed parent).
    leftovers = tagged_processes(owner)
    if leftovers:
        took, _ = stop_timed(((pid, signal.SIGTERM) for pid in leftovers), timeout=5.0)
        stopped += [
            Stopped(Record(name, pid, 0, signal.SIGTERM, 0), took.get(pid))
            for pid, name in leftovers.items()
        ]
    for leftover in (*pid_dir.glob("*.pid"), *pid_dir.glob("*.spec.json")):
        leftover.unlink(missing_ok=True)
    return stopped


def _signal(pid: int, sig: int) -> bool:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        return False
    return True
