"""A process sandbox without containers: util-linux `unshare` + `setpriv` around a command.

netns mode runs every instance (datastores included) as

    unshare --mount --pid --ipc --uts --kill-child --propagation private -- sh -ec SETUP
        … setup as root inside the new namespaces: the host file system read-only except
          the instance's own directories, a private /tmp and /dev/shm, /run, /home and
          /root masked by empty tmpfs, a /proc of its own …
        exec setpriv --reuid U --regid G --clear-groups --inh-caps=-all
                     --bounding-set=-all --no-new-privs --
             /usr/bin/python3 -I syscallfilter.py COMMAND

so the service runs in its own PID namespace (under a forwarding init): an unprivileged user with
no capabilities (effective, permitted, inheritable, ambient or bounding),
no_new_privs and a seccomp filter (systemd's @system-service, no namespaces: see
syscallfilter.py). Local mode started as root gets the same file-system view and
credentials without the PID/IPC/UTS namespaces; as an ordinary user, no_new_privs
and the filter.

Masked host paths: the host's UNIX sockets live under /run (D-Bus, a host database's
socket, Docker's), reachable through the file system whatever the network namespace
says, and /home and /root hold people's files; none is any service's business. Our own
paths below them (a checkout or state directory under /root, the resolver's
configuration when /etc/resolv.conf points into /run) are bound back on the tmpfs.

Stopping: unshare blocks SIGTERM/SIGINT and forwards nothing, so the pidfile must
name a process inside. The setup script rewrites the pidfile (written with
unshare's pid by `process.spawn`) with its own *host* pid — /proc is still the
host's when it runs — before it execs (setpriv, then the init), which keeps that pid. PID 1
of the namespace is a small forwarding init (see FORWARDING_INIT) that passes the
stop signal on (our services' SIGTERM drain, Redis's SIGTERM, PostgreSQL's SIGINT
fast shutdown) and exits with the service; then the kernel kills the rest of the
namespace and unshare exits too.
Killing unshare kills the service (--kill-child) — the SIGKILL fallback stays sound.

Traps handled here (util-linux's mount semantics): `remount,ro` is only ever done with `bind`
(without it, the superblock — the host's whole file system — turns read-only);
util-linux cannot remount recursively, so every mount point is remounted on its
own; directories the user could not traverse on the way to the interpreter (say a
pyenv under /root, mode 0700) are covered by a tmpfs showing only what is needed.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from shopnet.errors import PreflightError
from shopnet.runtime import syscallfilter
from shopnet.runtime.users import User

TMPFS_SIZE = "64m"

FORWARDING_INIT = """\
env --default-signal=INT -- "$@" &
child=$!
trap 'kill -TERM "$child" 2>/dev/null' TERM
trap 'kill -INT "$child" 2>/dev/null' INT
status=0
while kill -0 "$child" 2>/dev/null; do wait "$child"; status=$?; done
exit "$status"
"""
"""PID 1 of the namespace (unprivileged, like the service): the kernel drops a signal sent
to a namespace's init that has no handler for it, so a service still importing its
modules would ignore `down`'s SIGTERM. This init has handlers and passes TERM and INT
on to the service, which, not being PID 1, gets the default action until it has its own.
(A script's asynchronous command starts with SIGINT ignored, for good — `trap` cannot
undo it — so `env --default-signal` restores it: PostgreSQL's fast shutdown is SIGINT.)"""
STAGE_CANDIDATES = ("/mnt", "/srv", "/media", "/opt", "/var/tmp")
FRESH = (Path("/tmp"), Path("/dev/shm"))
"""Mounted afresh (empty) in every sandbox."""
MASKED = (Path("/run"), Path("/var/run"), Path("/home"), Path("/root"))
"""Covered by an empty tmpfs in every sandbox (systemd: ProtectHome=, InaccessiblePaths=/run)."""
RESOLVER = Path("/etc/resolv.conf")


@dataclass(frozen=True, slots=True)
class Sandbox:
    """How one instance's process is confined."""

    user: User
    """Who it runs as."""
    writable: tuple[Path, ...] = ()
    """Its own directories: the only host paths it may write to."""
    readable: tuple[Path, ...] = ()
    """Host paths it must read that may be covered (e.g. its secrets under a /tmp state dir)."""
    private_pids: bool = True
    """Own PID, IPC and UTS namespaces (netns mode); False: a mount namespace only."""
    hostname: str | None = None
    """Host name inside its UTS namespace."""


def unprivileged(user: User) -> tuple[str, ...]:
    """setpriv's argv prefix: become `user` with no capabilities at all and no_new_privs."""
    return (
        "setpriv",
        f"--reuid={user.uid}",
        f"--regid={user.gid}",
        "--clear-groups",
        "--inh-caps=-all",
        "--bounding-set=-all",
        "--no-new-privs",
        "--",
    )


def filtered() -> tuple[str, ...]:
    """The argv prefix that puts the syscall filter on the command that follows."""
    return (syscallfilter.SYSTEM_PYTHON, "-I", str(Path(syscallfilter.__file__).resolve()))


def no_new_privs() -> tuple[str, ...]:
    """What an ordinary user can still give up: setuid binaries and file capabilities —
    and, no_new_privs being set, it may load a syscall filter."""
    return ("setpriv", "--no-new-privs", "--", *filtered())


def require_filter() -> None:
    """Fail before anything starts if the filter cannot be built here."""
    argv = (*filtered(), "true")
    try:
        done = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise PreflightError(f"cannot run the syscall filter: {exc}") from None
    if done.returncode != 0:
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise PreflightError(
            f"the syscall filter does not load ({tail}): install Debian's python3-seccomp"
        )


def masked() -> tuple[Path, ...]:
    """The directories of MASKED that exist here, symlinks resolved (/var/run is /run)."""
    found: list[Path] = []
    for path in MASKED:
        real = Path(os.path.realpath(path))
        if real.is_dir() and real not in found:
            found.append(real)
    return tuple(found)


def wrap(
    argv: Iterable[str], sandbox: Sandbox, *, pidfile: Path, stop_signal: int, stop_phase: int
) -> tuple[str, ...]:
    """`argv` run inside `sandbox`; the pidfile ends up naming the process that runs `argv`."""
    namespaces = ["--mount"]
    if sandbox.private_pids:
        namespaces += ["--pid", "--ipc", "--uts", "--kill-child"]
    script = setup_script(sandbox, pidfile=pidfile, stop_signal=stop_signal, stop_phase=stop_phase)
    return (
        "unshare",
        *namespaces,
        "--propagation",
        "private",
        "--",
        # A `shopnet up` started with SIGINT ignored (say from a script's `&`) would pass
        # that on, and an ignored signal can never be trapped again: start afresh.
        "env",
        "--default-signal=INT,TERM",
        "sh",
        "-ec",
        script,
        "shopnet-sandbox",
        *argv,
    )


def setup_script(sandbox: Sandbox, *, pidfile: Path, stop_signal: int, stop_phase: int) -> str:
    """The root part of the sandbox, run in the new namespaces before setpriv."""
    q = shlex.quote
    lines = []
    if sandbox.private_pids:
        # Fields 1 and 22 of /proc/self/stat: our host pid and start time (the host's
        # /proc is still mounted; our comm is "sh", no spaces). A function gets its own
        # positional parameters, so "$@" (the command) survives.
        tmp = q(f"{pidfile}.tmp")
        lines += [
            f'record() {{ printf \'%s %s {int(stop_signal)} {int(stop_phase)}\\n\' "$1" "${{22}}"; }}',
            "read -r stat </proc/self/stat",
            f"(umask 077 && record $stat >{tmp})",
            f"mv -f {tmp} {q(str(pidfile))}",
        ]
    needed = needed_paths()
    shims = hidden_ancestors(sandbox.user, needed)
    masks = masked()
    for mask in masks:
        shims.setdefault(mask, set())
    kept = sorted(
        {
            *(c for children in shims.values() for c in children),
            *under_fresh_mounts(needed, shims),
            *under_masks((*needed, *resolver_dir()), masks, shims),
            *sandbox.writable,
            *sandbox.readable,
        },
        key=lambda p: len(p.parts),
    )
    stage = q(str(stage_for((*kept, *shims, *FRESH))))
    lines.append(f"mount -t tmpfs -o mode=0700,size=1m shopnet-stage {stage}")
    for i, path in enumerate(kept):
        lines += [f"mkdir {stage}/{i}", f"mount --bind {q(str(path))} {stage}/{i}"]
    lines.append(_tmpfs("/tmp", "1777"))
    for ancestor in sorted(shims, key=lambda p: len(p.parts)):
        # An ancestor under /tmp (a checkout in a `mktemp -d` folder) exists no more on
        # the fresh /tmp: make it before covering it. A mask is a shim showing nothing.
        source = "shopnet-mask" if ancestor in masks else "shopnet-shim"
        lines += [
            f"mkdir -p {q(str(ancestor))}",
            f"mount -t tmpfs -o mode=0755,size=1m,nosuid,nodev {source} {q(str(ancestor))}",
        ]
    for i, path in enumerate(kept):
        lines += [f"mkdir -p {q(str(path))}", f"mount --move {stage}/{i} {q(str(path))}"]
    lines += [f"umount {stage}", _tmpfs("/dev/shm", "1777")]
    # Every mount point read-only on its own (never `remount,ro` without `bind`).
    spared = "|".join(q(p) for p in ("/tmp", "/dev/shm", *map(str, sandbox.writable)))
    lines += [
        "while read -r _ _ _ _ mountpoint _; do",
        f'  case "$mountpoint" in {spared}) continue ;; esac',
        '  mount -o remount,bind,ro "$mountpoint" 2>/dev/null || true',
        "done </proc/self/mountinfo",
    ]
    if sandbox.private_pids:
        lines.append("mount -t proc -o nosuid,nodev,noexec proc /proc")
        if sandbox.hostname:
            lines.append(f"hostname {q(sandbox.hostname)}")
        init = ("sh", "-c", FORWARDING_INIT, "shopnet-init")
        command = (*unprivileged(sandbox.user), *filtered(), *init)
    else:
        command = (*unprivileged(sandbox.user), *filtered())
    lines.append(f'exec {" ".join(map(q, command))} "$@"')
    return "\n".join(lines) + "\n"


def stage_for(covered: Iterable[Path]) -> Path:
    """A directory to mount the staging tmpfs on, clear of everything we cover or keep.

    Mounting over it hides its contents only inside the new mount namespace, and only
    until the stage is unmounted again.
    """
    covered = tuple(covered)
    for candidate in map(Path, STAGE_CANDIDATES):
        clash = any(
            candidate == c or candidate in c.parents or c in candidate.parents for c in covered
        )
        if candidate.is_dir() and not clash:
            return candidate
    raise PreflightError("no directory to stage the sandbox's mounts on (tried /mnt, /srv, …)")


def under_fresh_mounts(paths: Iterable[Path], shims: dict[Path, set[Path]]) -> set[Path]:
    """The `paths` the fresh /tmp and /dev/shm would hide (a checkout or venv in an open
    folder under /tmp), unless a shim already keeps them."""
    return {
        path
        for path in paths
        if any(fresh in path.parents for fresh in FRESH)
        and not any(shim in path.parents for shim in shims)
    }


def under_masks(
    paths: Iterable[Path], masks: Iterable[Path], shims: dict[Path, set[Path]]
) -> set[Path]:
    """The directories of `paths` (a file: its folder) a mask would hide, unless a shim
    already keeps them; none inside another (its bind mount shows that one too)."""
    masks = tuple(masks)
    children = {c for found in shims.values() for c in found}
    hidden = {
        path if path.is_dir() else path.parent
        for path in paths
        if any(mask in path.parents for mask in masks)
        and not any(child == path or child in path.parents for child in children)
    }
    return {path for path in hidden if not any(other in path.parents for other in hidden)}


def resolver_dir() -> tuple[Path, ...]:
    """The directory /etc/resolv.conf really lives in, when it is a link (systemd-resolved's
    /run/systemd/resolve): a service resolving names keeps it under the /run mask."""
    if not RESOLVER.is_symlink():
        return ()
    real = Path(os.path.realpath(RESOLVER))
    return (real.parent,) if real.parent.is_dir() else ()


def _tmpfs(path: str, mode: str) -> str:
    return f"mount -t tmpfs -o mode={mode},size={TMPFS_SIZE},nosuid,nodev shopnet-tmp {path}"


def needed_paths() -> tuple[Path, ...]:
    """What a service process must reach: the interpreter, its libraries, our code."""
    import shopnet

    return tuple(
        Path(os.path.realpath(p))
        for p in (sys.executable, sys.prefix, sys.base_prefix, Path(shopnet.__file__).parent)
    )


def hidden_ancestors(user: User, paths: Iterable[Path]) -> dict[Path, set[Path]]:
    """Directories `user` cannot pass through on the way to `paths` → the children needed."""
    shims: dict[Path, set[Path]] = {}
    for path in paths:
        for parent in reversed(path.parents):
            if parent == path or parent == Path("/"):
                continue
            if not _traversable(parent, user):
                child = parent / path.relative_to(parent).parts[0]
                shims.setdefault(parent, set()).add(child)
                break
    return shims


def _traversable(directory: Path, user: User) -> bool:
    try:
        st = directory.stat()
    except OSError:
        return True  # nothing to uncover
    if st.st_uid == user.uid:
        return bool(st.st_mode & 0o100)
    if st.st_gid == user.gid:
        return bool(st.st_mode & 0o010)
    return bool(st.st_mode & 0o001)
