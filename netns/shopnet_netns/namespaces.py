"""Named network namespaces: create, list, remove, join, and find who lives inside.

Named the way iproute2 names them (a bind mount at /run/netns/<name>), so
`ip netns exec shopnet-product-1 ss -tlnp` works on what we build.

Joining uses setns(2). In a child between fork and exec (`enter()`), it moves
the whole process; in a thread (`run_in()`), only that thread — which is how we
create sockets and write /proc/sys/net inside a namespace without forking: a
socket belongs for life to the namespace it was created in.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from pyroute2 import netns as _pyroute2_netns

from shopnet.errors import DriverError

RUN_DIR = Path("/run/netns")
CLONE_NEWNET = 0x40000000

_libc = ctypes.CDLL(None, use_errno=True)
# Resolved once here, not in a forked child (where a first lookup would allocate).
_setns = _libc.setns
_setns.argtypes = (ctypes.c_int, ctypes.c_int)
_setns.restype = ctypes.c_int

T = TypeVar("T")


def path(name: str) -> Path:
    return RUN_DIR / name


def _nsfs_device() -> int:
    return os.stat("/proc/self/ns/net").st_dev


def exists(name: str) -> bool:
    """True when /run/netns/<name> is a live namespace (not a file left by a crash)."""
    try:
        return os.stat(path(name)).st_dev == _nsfs_device()
    except OSError:
        return False


def listed(prefix: str) -> list[str]:
    """Names under /run/netns starting with `<prefix>-`, live or half-created."""
    try:
        entries = os.listdir(RUN_DIR)
    except FileNotFoundError:
        return []
    return sorted(e for e in entries if e.startswith(f"{prefix}-"))


def create(name: str) -> bool:
    """Create namespace `name` unless it exists; returns True when it was created.

    A file left by a build killed between creating the mount point and binding
    the namespace onto it is replaced.
    """
    if exists(name):
        return False
    if path(name).exists():
        remove(name)
    try:
        _pyroute2_netns.create(name)
    except OSError as exc:
        raise DriverError(f"cannot create network namespace {name}: {exc}") from None
    return True


def remove(name: str) -> None:
    """Unmount and unlink /run/netns/<name>; the namespace itself goes with its last user."""
    with contextlib.suppress(FileNotFoundError):
        _pyroute2_netns.remove(name)


def join(name: str) -> None:
    """Move the calling thread (or a single-threaded child) into namespace `name`."""
    _join_file(path(name), name)


def _join_file(file: str | Path, what: str) -> None:
    fd = os.open(file, os.O_RDONLY | os.O_CLOEXEC)
    try:
        if _setns(fd, CLONE_NEWNET) != 0:
            code = ctypes.get_errno()
            raise OSError(code, f"setns into {what}: {os.strerror(code)}")
    finally:
        os.close(fd)


def enter(name: str) -> Callable[[], None]:
    """A callable that joins namespace `name`, for `spawn(..., enter=...)` (runs in the child).

    Checked here, in the parent, so a missing namespace is a clear error rather
    than a failed exec.
    """
    if not exists(name):
        raise DriverError(f"network namespace {name} does not exist (is the network built?)")

    def enter_namespace() -> None:
        join(name)

    return enter_namespace


def run_in(name: str, fn: Callable[[], T]) -> T:
    """Run `fn` in a short-lived thread that joined namespace `name`; return its result."""
    return _run_joined(path(name), name, fn)


def run_in_pid(pid: int, fn: Callable[[], T]) -> T:
    """The same in the network namespace of process `pid` (a container's, which has no name)."""
    return _run_joined(f"/proc/{pid}/ns/net", f"pid {pid}'s netns", fn)


def _run_joined(file: str | Path, what: str, fn: Callable[[], T]) -> T:
    values: list[T] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            _join_file(file, what)
            values.append(fn())
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=worker, name=f"in {what}", daemon=True)
    thread.start()
    thread.join()
    if errors:
        raise errors[0]
    return values[0]


def write_sysctls(name: str, values: dict[str, str]) -> None:
    """Set per-namespace sysctls (`net.ipv6.conf.all.disable_ipv6` → /proc/sys/net/…)."""

    def write() -> None:
        for key, value in values.items():
            Path("/proc/sys", *key.split(".")).write_text(value)

    run_in(name, write)


def pids_in(name: str) -> list[int]:
    """Pids whose network namespace is `name` (what `ip netns pids` prints)."""
    try:
        target = os.stat(path(name))
    except OSError:
        return []
    if target.st_dev != _nsfs_device():
        return []
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            st = os.stat(f"/proc/{entry.name}/ns/net")
        except OSError as exc:  # gone meanwhile, or a kernel thread
            if exc.errno in (errno.ENOENT, errno.EACCES, errno.ESRCH):
                continue
            raise
        if (st.st_dev, st.st_ino) == (target.st_dev, target.st_ino):
            found.append(int(entry.name))
    return found
