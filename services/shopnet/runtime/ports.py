"""Port checks every mode's preflight makes: is something listening, and who."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

from shopnet.errors import PreflightError

_LISTEN = "0A"  # TCP_LISTEN in /proc/net/tcp


def listening(port: int) -> bool:
    """Whether a TCP socket listens on `port`, on any address, in this network namespace.

    Only a listener counts: connections still in TIME-WAIT from a previous stack do
    not stop our servers (they all bind with SO_REUSEADDR), so they must not stop us.
    """
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if fields[3] == _LISTEN and int(fields[1].rsplit(":", 1)[1], 16) == port:
                return True
    return False


def holder(port: int) -> str:
    """` by <program>` when `ss` can tell who listens on `port`, else ``."""
    try:
        out = subprocess.run(
            ["ss", "-Hltnp", f"sport = :{port}"], capture_output=True, text=True, timeout=2
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return ""
    if 'users:(("' in out:
        return " by " + out.split('users:(("', 1)[1].split('"', 1)[0]
    return ""


def require_free(port: int, *, what: str) -> None:
    """PreflightError naming the port, its purpose and its holder when something listens there."""
    if listening(port):
        raise PreflightError(
            f"port {port} on this host ({what}) is in use{holder(port)}; "
            "stop what uses it or run `shopnet down`"
        )


def host_address() -> str:
    """This host's own non-loopback IPv4 address (the source of its default route)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # TEST-NET-1: nothing is sent, only routed
            address: str = probe.getsockname()[0]
            return address
        except OSError:
            return "127.0.0.1"
