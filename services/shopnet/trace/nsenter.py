"""Running a command or a Python callable inside a network namespace given by its file.

Commands go through `nsenter --net=FILE` (util-linux): it joins and execs, no
fork, so a PR_SET_PDEATHSIG set before it still kills the command when we die.
Callables run in a short-lived thread that joined the namespace with setns(2):
a socket created there belongs to that namespace for life.
"""

from __future__ import annotations

import ctypes
import os
import subprocess
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from shopnet.trace.route import Place

T = TypeVar("T")

CLONE_NEWNET = 0x40000000

_libc = ctypes.CDLL(None, use_errno=True)
_setns = _libc.setns
_setns.argtypes = (ctypes.c_int, ctypes.c_int)
_setns.restype = ctypes.c_int


def argv_in(netns: str | None, argv: list[str]) -> list[str]:
    """`argv`, run inside `netns` (None: here)."""
    return argv if netns is None else ["nsenter", f"--net={netns}", *argv]


def run_in(netns: str | None, fn: Callable[[], T]) -> T:
    """`fn()` in a thread that joined `netns` (None: this thread's namespace)."""
    if netns is None:
        return fn()
    outcome: dict[str, object] = {}

    def worker() -> None:
        try:
            fd = os.open(netns, os.O_RDONLY | os.O_CLOEXEC)
            try:
                if _setns(fd, CLONE_NEWNET) != 0:
                    code = ctypes.get_errno()
                    raise OSError(code, f"setns into {netns}: {os.strerror(code)}")
            finally:
                os.close(fd)
            outcome["value"] = fn()
        except BaseException as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=worker, name="trace-netns", daemon=True)
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return outcome["value"]  # type: ignore[return-value]


def route_get(place: Place, destination: str, source: str | None, iif: str | None) -> str | None:
    """`ip route get` there: the route a packet from `iif` to `destination` takes."""
    argv = ["ip", "-o", "route", "get", destination]
    if source and iif:
        argv += ["from", source, "iif", iif]
    out = subprocess.run(argv_in(place.netns, argv), capture_output=True, text=True,
                         check=False, timeout=10)  # fmt: skip
    text = (out.stdout or out.stderr).strip().split("\\")[0].strip()
    return " ".join(text.split()) or None
