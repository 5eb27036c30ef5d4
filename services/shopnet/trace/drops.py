"""The kernel's drop reasons: `skb:kfree_skb` through a tracefs instance of our own.

An instance (`<tracefs>/instances/<prefix>-trace`) has its own buffer and event
switches, so nothing another tracer set up is touched. Its clock is `mono`,
the clock of time.monotonic(): a drop event can then be set beside the moments
the probe's packets left. kfree_skb carries no addresses (an skb pointer, the
freeing function, a reason), so `matching` attributes a drop to the probe only
by time: within MATCH_WINDOW after one of the probe's own transmissions, which
the same instance records with their ports (`sock:inet_sock_set_state` to
SYN_SENT: the first SYN; `tcp:tcp_retransmit_skb`: each retransmission), on
the same clock.

Where tracefs is not mounted it is mounted on a directory of our own under
/run and unmounted afterwards (a second mount of the same tracefs: nothing
another user mounted changes); `cleanup` removes both after a kill -9.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

SYSTEM_TRACEFS = Path("/sys/kernel/tracing")
MATCH_WINDOW = 0.05
"""Seconds after a transmission of the probe in which a drop is taken to be its."""
IPV4 = 0x0800
"""ETH_P_IP: the tracepoint records skb->protocol in host order (ntohs)."""

_SENT = re.compile(
    r"\s(?P<ts>\d+\.\d+): (?:inet_sock_set_state: .*newstate=TCP_SYN_SENT|tcp_retransmit_skb: )"
)
_LINE = re.compile(
    r"\s(?P<ts>\d+\.\d+): kfree_skb: .*?protocol=(?P<proto>\d+) location=(?P<loc>\S+)"
    r" reason: (?P<reason>\w+)"
)


@dataclass(frozen=True, slots=True)
class Drop:
    at: float
    """Seconds on the monotonic clock."""
    reason: str
    """The kernel's drop reason, e.g. NETFILTER_DROP, NO_SOCKET."""
    location: str
    """The function that freed the packet, e.g. nf_hook_slow+0x4a/0xf0."""


def own_mount(prefix: str) -> Path:
    return Path("/run") / f"{prefix}-trace" / "tracefs"


def instance_name(prefix: str) -> str:
    return f"{prefix}-trace"


class DropWatch:
    """kfree_skb of IPv4 packets, recorded between `start` and `stop`."""

    def __init__(self, prefix: str, sport: int) -> None:
        self.prefix = prefix
        self.sport = sport
        self.mounted: Path | None = None
        self.instance: Path | None = None

    def start(self) -> None:
        root = SYSTEM_TRACEFS
        if not (root / "instances").is_dir():
            root = own_mount(self.prefix)
            root.mkdir(parents=True, exist_ok=True)
            subprocess.run(["mount", "-t", "tracefs", "nodev", str(root)], check=True,
                           capture_output=True, timeout=10)  # fmt: skip
            self.mounted = root
        instance = root / "instances" / instance_name(self.prefix)
        with contextlib.suppress(FileNotFoundError):
            _remove_instance(instance)
        instance.mkdir()
        self.instance = instance
        (instance / "trace_clock").write_text("mono")
        event = instance / "events" / "skb" / "kfree_skb"
        (event / "filter").write_text(f"protocol == {IPV4}")
        (event / "enable").write_text("1")
        for sent in ("sock/inet_sock_set_state", "tcp/tcp_retransmit_skb"):
            (instance / "events" / sent / "filter").write_text(f"sport == {self.sport}")
            (instance / "events" / sent / "enable").write_text("1")

    def stop(self) -> tuple[list[Drop], list[float]]:
        """Switch the events off, read them, remove the instance (and our mount):
        (IPv4 drops, when the probe's SYNs left)."""
        drops: list[Drop] = []
        sent: list[float] = []
        try:
            if self.instance is not None:
                (self.instance / "events" / "enable").write_text("0")
                text = (self.instance / "trace").read_text()
                drops, sent = parse(text), [float(m["ts"]) for m in _SENT.finditer(text)]
        finally:
            if self.instance is not None:
                _remove_instance(self.instance)
                self.instance = None
            if self.mounted is not None:
                _unmount(self.mounted)
                self.mounted = None
        return drops, sent


def parse(text: str) -> list[Drop]:
    found = []
    for line in text.splitlines():
        match = _LINE.search(line)
        if match and int(match["proto"]) == IPV4:
            found.append(Drop(float(match["ts"]), match["reason"], match["loc"]))
    return found


TEARDOWN = frozenset({"QUEUE_PURGE", "SOCKET_CLOSE"})
"""Reasons a closing socket frees its own queues with: the probe's close, not a drop on the way."""


def matching(drops: list[Drop], sent: list[float]) -> list[Drop]:
    """The drops within MATCH_WINDOW after one of the probe's transmissions (`sent`)."""
    return [
        d
        for d in drops
        if d.reason not in TEARDOWN and any(0 <= d.at - t <= MATCH_WINDOW for t in sent)
    ]


def _remove_instance(instance: Path) -> None:
    with contextlib.suppress(OSError):
        (instance / "events" / "enable").write_text("0")
    os.rmdir(instance)


def _unmount(path: Path) -> None:
    subprocess.run(["umount", str(path)], check=False, capture_output=True, timeout=10)
    with contextlib.suppress(OSError):
        path.rmdir()
        path.parent.rmdir()


def cleanup(prefix: str) -> list[str]:
    """What a killed trace left: our tracefs instance, our mount. Returns what was removed."""
    removed = []
    mount = own_mount(prefix)
    for root in (SYSTEM_TRACEFS, mount):
        instance = root / "instances" / instance_name(prefix)
        if instance.is_dir():
            with contextlib.suppress(OSError):
                _remove_instance(instance)
                removed.append(f"tracefs instance {instance_name(prefix)}")
    if os.path.ismount(mount):
        _unmount(mount)
        removed.append(f"tracefs mount {mount}")
    elif mount.parent.is_dir():
        with contextlib.suppress(OSError):
            mount.rmdir()
        with contextlib.suppress(OSError):
            mount.parent.rmdir()
    return removed
