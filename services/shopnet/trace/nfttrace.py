"""nftables tracing of one flow: a temporary table per namespace and its monitor.

The trace mark (`meta nftrace set 1`) is skb metadata that a veth scrubs when
the packet enters the next namespace, and trace events go to listeners of the
namespace the packet is in — so each namespace on the path gets a table of its
own, `inet <prefix>_trace`, whose chains run before everything else (priority
-350: ahead of raw, conntrack and NAT) and mark only the probe's packets: its
source address and port one way, the same as destination the other way. A
canary (UDP from the namespace's loopback to port 9, from a port of its own)
proves each monitor listens before the probe leaves.
"""

from __future__ import annotations

import re
import subprocess
import threading
import time
from dataclasses import dataclass, field

from shopnet.runtime.process import die_with_parent
from shopnet.trace.nsenter import argv_in

PRIORITY = -350
CANARY_PORT = 9
"""discard: nothing answers, the canary only has to be seen leaving."""

_EVENT = re.compile(
    r"^trace id (?P<id>[0-9a-f]+) (?P<family>\S+) (?P<table>\S+) (?P<chain>\S+) "
    r"(?P<kind>packet:|rule|verdict|policy|unknown rule handle \d+)\s*(?P<rest>.*)$"
)
_VERDICT = re.compile(r"\(verdict (?P<verdict>[^)]+)\)\s*$")
_FIELD = re.compile(r'\b(iif|oif|ip saddr|ip daddr|tcp sport|tcp dport|tcp flags ==) "?([^" ]+)"?')


def table_name(prefix: str) -> str:
    """Ours (`shopnet down` removes `<prefix>_*` tables), and apart from the firewall's."""
    return f"{prefix}_trace"


def render(prefix: str, *, address: str, port: int, canary: int) -> str:
    """The temporary table: marks the probe's flow (both ways) and this namespace's canary."""
    marks = [
        f"ip saddr {address} tcp sport {port} meta nftrace set 1",
        f"ip daddr {address} tcp dport {port} meta nftrace set 1",
    ]
    canary_mark = (
        f"ip daddr 127.0.0.1 udp sport {canary} udp dport {CANARY_PORT} meta nftrace set 1"
    )
    lines = [
        f"table inet {table_name(prefix)} {{",
        '  comment "shopnet trace: marks one probe flow; removed after it, by the next trace '
        'and by `shopnet down`"',
    ]
    for chain, hook in (("pre", "prerouting"), ("out", "output")):
        lines += [
            f"  chain {chain} {{",
            f"    type filter hook {hook} priority {PRIORITY}; policy accept;",
            *(f"    {rule}" for rule in marks),
            *([f"    {canary_mark}"] if chain == "out" else []),
            "  }",
        ]
    return "\n".join([*lines, "}"]) + "\n"


def load(netns: str | None, prefix: str, ruleset: str) -> None:
    table = table_name(prefix)
    script = f"table inet {table}\ndelete table inet {table}\n{ruleset}"
    subprocess.run(argv_in(netns, ["nft", "-f", "-"]), input=script, text=True, check=True,
                   capture_output=True, timeout=10)  # fmt: skip


def remove(netns: str | None, prefix: str) -> bool:
    """Delete our table there, if any; whether one was deleted."""
    out = subprocess.run(
        argv_in(netns, ["nft", "delete", "table", "inet", table_name(prefix)]),
        capture_output=True, text=True, check=False, timeout=10,
    )  # fmt: skip
    return out.returncode == 0


def base_chains(netns: str | None) -> dict[tuple[str, str, str], str]:
    """(family, table, chain) → hook of every base chain in the namespace."""
    import json

    out = subprocess.run(argv_in(netns, ["nft", "-j", "list", "chains"]), capture_output=True,
                         text=True, check=False, timeout=10)  # fmt: skip
    if out.returncode != 0:
        return {}
    hooks = {}
    for item in json.loads(out.stdout).get("nftables", []):
        chain = item.get("chain")
        if chain and "hook" in chain:
            hooks[(chain["family"], chain["table"], chain["name"])] = chain["hook"]
    return hooks


@dataclass(frozen=True, slots=True)
class Event:
    """One line of `nft monitor trace`."""

    id: str
    family: str
    table: str
    chain: str
    kind: str
    """packet, rule, verdict or policy."""
    text: str
    """The packet's fields, the rule, or the verdict."""
    verdict: str = ""
    """A rule's verdict (`accept`, `drop`, `jump testbed`, `continue`…)."""
    fields: dict[str, str] = field(default_factory=dict)
    """A packet line's iif, oif, ip saddr/daddr, tcp sport/dport, tcp flags."""
    at: float = 0.0
    """time.monotonic() when the line was read."""


def parse(line: str, at: float = 0.0) -> Event | None:
    match = _EVENT.match(line.strip())
    if match is None:
        return None
    kind = match["kind"].rstrip(":").split()[0]
    rest = match["rest"].strip()
    verdict = ""
    if kind == "rule" and (found := _VERDICT.search(rest)):
        verdict = found["verdict"]
        rest = rest[: found.start()].strip()
    elif kind in ("verdict", "policy"):
        verdict = rest
    fields = {k: v for k, v in _FIELD.findall(rest)} if kind == "packet" else {}
    return Event(match["id"], match["family"], match["table"], match["chain"], kind, rest,
                 verdict, fields, at)  # fmt: skip


class Monitor:
    """`nft monitor trace` in one namespace, its lines collected by a thread."""

    def __init__(self, netns: str | None) -> None:
        self.events: list[Event] = []
        self._lock = threading.Lock()
        self._proc = subprocess.Popen(
            argv_in(netns, ["nft", "monitor", "trace"]),
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
            preexec_fn=die_with_parent,
        )  # fmt: skip
        self._reader = threading.Thread(target=self._read, name="nft-monitor", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self._proc.stdout is not None
        for line in self._proc.stdout:
            event = parse(line, time.monotonic())
            if event is not None:
                with self._lock:
                    self.events.append(event)

    def snapshot(self) -> list[Event]:
        with self._lock:
            return list(self.events)

    def saw_canary(self, canary: int) -> bool:
        mark = f"udp sport {canary} "
        return any(e.kind == "packet" and mark in e.text + " " for e in self.snapshot())

    def stop(self) -> list[Event]:
        self._proc.terminate()
        try:
            self._proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        self._reader.join(timeout=2)
        if self._proc.stdout is not None:
            self._proc.stdout.close()
        return self.snapshot()
