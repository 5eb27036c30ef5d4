"""`shopnet exec` in a container: the image's tools as its user, else the host's in its namespace.

The images stay minimal (no ping, ip, ss, curl or tcpdump: nothing for an
intruder to use), so a network tool the image lacks runs the way `kubectl
debug` or `ip netns exec` would: the host's binary, as root, in the
container's network namespace only (nsenter --net), its filesystem the host's.
`note` says which of the two a command gets, and as whom.
"""

from __future__ import annotations

import subprocess
import sys

from shopnet.errors import ConfigError

NETWORK_TOOLS = frozenset({"ping", "ip", "ss", "curl", "tcpdump", "nft", "conntrack", "nc"})


def in_image(engine: list[str], container: str, command: str) -> bool:
    out = subprocess.run(
        [*engine, "exec", container, "sh", "-c", 'command -v "$1"', "sh", command],
        capture_output=True, text=True, check=False, timeout=30,
    )  # fmt: skip
    return out.returncode == 0


def image_user(engine: list[str], container: str) -> str:
    out = subprocess.run([*engine, "inspect", "-f", "{{.Config.User}}", container],
                         capture_output=True, text=True, check=False, timeout=30)  # fmt: skip
    return out.stdout.strip() or "root"


def uses_host_tool(engine: list[str], container: str, argv: list[str]) -> bool:
    return argv[0] in NETWORK_TOOLS and not in_image(engine, container, argv[0])


def note(engine: list[str], container: str, instance: str, argv: list[str]) -> str:
    if uses_host_tool(engine, container, argv):
        return (
            f"is not in the image: the host's {argv[0]} runs as root (uid 0) in {instance}'s "
            "network namespace only (nsenter --net)"
        )
    return f"runs inside {instance}'s container as user {image_user(engine, container)} (the image's USER)"


def run(engine: list[str], container: str, pid: int, argv: list[str]) -> int:
    if uses_host_tool(engine, container, argv):
        if not pid:
            raise ConfigError(f"{container} is not running")
        try:
            return subprocess.run(
                ["nsenter", f"--net=/proc/{pid}/ns/net", *argv], check=False
            ).returncode
        except FileNotFoundError:
            raise ConfigError("nsenter not found: install util-linux") from None
    tty = ["-t"] if sys.stdin.isatty() and sys.stdout.isatty() else []
    return subprocess.run([*engine, "exec", "-i", *tty, container, *argv], check=False).returncode
