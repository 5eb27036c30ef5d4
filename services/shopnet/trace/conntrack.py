"""The NAT of the probe's connection as conntrack recorded it: original vs reply tuple."""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass

from shopnet.trace.nsenter import argv_in

_TUPLE = re.compile(r"src=(\S+) dst=(\S+) sport=(\d+) dport=(\d+)")


@dataclass(frozen=True, slots=True)
class Nat:
    """One conntrack entry of the probe's flow."""

    place: str
    state: str
    original: tuple[str, int, str, int]
    """(src, sport, dst, dport) as the client sent it."""
    reply: tuple[str, int, str, int]
    """(src, sport, dst, dport) of the answers, as the kernel expects them."""

    @property
    def dnat(self) -> bool:
        return (self.reply[0], self.reply[1]) != (self.original[2], self.original[3])

    @property
    def snat(self) -> bool:
        return (self.reply[2], self.reply[3]) != (self.original[0], self.original[1])

    def describe(self) -> str:
        src, sport, dst, dport = self.original
        rsrc, rsport, rdst, rdport = self.reply
        what = []
        if self.dnat:
            what.append(f"DNAT {dst}:{dport} → {rsrc}:{rsport}")
        if self.snat:
            what.append(f"SNAT {src}:{sport} → {rdst}:{rdport}")
        return (
            f"{self.place}: {src}:{sport} → {dst}:{dport}, replies {rsrc}:{rsport} → "
            f"{rdst}:{rdport} ({'; '.join(what) or 'no translation'}; {self.state})"
        )


def entries(place: str, netns: str | None, sport: int) -> list[Nat]:
    """conntrack's entries for TCP connections from source port `sport` there."""
    out = subprocess.run(
        argv_in(netns, ["conntrack", "-L", "-p", "tcp", "--orig-port-src", str(sport)]),
        capture_output=True, text=True, check=False, timeout=10,
    )  # fmt: skip
    return parse(place, out.stdout)


def parse(place: str, text: str) -> list[Nat]:
    found = []
    for line in text.splitlines():
        tuples = _TUPLE.findall(line)
        if len(tuples) < 2:
            continue
        words = line.split()
        state = next((w for w in words[3:5] if w.isupper()), "")
        (a, b, c, d), (e, f, g, h) = tuples[0], tuples[1]
        found.append(Nat(place, state, (a, int(c), b, int(d)), (e, int(g), f, int(h))))
    return found
