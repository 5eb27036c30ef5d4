"""The few external commands we run (where no library call exists), with clear errors.

nftables has no Python bindings on PyPI, iptables has none that track both
backends, and tcpdump is the capture tool people already trust; the netns mode
does everything else through pyroute2. A missing binary is named with its
Debian package.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Sequence

from shopnet.errors import DriverError, PreflightError

PACKAGES = {
    "nft": "nftables",
    "iptables": "iptables",
    "iptables-save": "iptables",
    "iptables-restore": "iptables",
    "iptables-nft": "iptables",
    "iptables-legacy": "iptables",
    "tcpdump": "tcpdump",
    "ip": "iproute2",
    "modprobe": "kmod",
    "docker": "docker.io",
}

REQUIRED = ("ip", "nft", "iptables", "iptables-save", "iptables-restore")
"""What `build` needs (`ip` for operators' `ip netns exec`, the rest for the firewall)."""


def missing_message(name: str, package: str | None = None) -> str:
    package = package or PACKAGES.get(name, name)
    return f"{name} not found: install it with `apt-get install {package}`"


def binary(name: str, *, package: str | None = None) -> str:
    """Absolute path of `name`, or PreflightError naming the Debian package."""
    found = shutil.which(name)
    if found is None:
        raise PreflightError(missing_message(name, package))
    return found


def run(
    argv: Sequence[str],
    *,
    what: str,
    stdin: str | None = None,
    timeout: float = 30.0,
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    """Run a command; with `check`, a failure is a DriverError quoting its stderr."""
    command = [binary(argv[0]), *argv[1:]]
    try:
        out = subprocess.run(
            command,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise DriverError(f"{what}: `{argv[0]}` did not finish in {timeout:.0f}s") from None
    if check and out.returncode != 0:
        tail = " / ".join((out.stderr or out.stdout).strip().splitlines()[-4:])
        raise DriverError(f"{what} failed ({argv[0]} exit {out.returncode}): {tail}")
    return out
