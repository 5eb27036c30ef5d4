"""netns mode: the counters of our nftables table, read with `nft -j list table`.

Each flow's accept rule counts the connections it let open (its comment is
"source -> target:port"); the dynamic set `denied` holds one counter per refused
(source address, destination address, port) — see shopnet_netns.firewall.
With several simulated hosts (netns `--hosts N`, namespaces `<prefix>-host<k>`)
each host has a table of its own and the counters are summed; a connection
between hosts passes both, and the rules of the host it arrives at say so in
their comment (`… (from another host)`), so it is counted once, at its source.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from dataclasses import dataclass
from typing import Any

DENIED_SET = "denied"
ARRIVING = " (from another host)"
NETNS_DIR = "/run/netns"


@dataclass(frozen=True, slots=True)
class Denied:
    source: str
    target: str
    port: int
    packets: int


@dataclass(frozen=True, slots=True)
class FirewallCounters:
    connections: dict[str, int]
    """Edge id (`source->target`) → connections its rule let open."""
    denied: tuple[Denied, ...]


def read(table: str) -> FirewallCounters | None:
    """The counters of `table inet <table>` (summed with every simulated host's), or None
    when it is not there (or nft is missing)."""
    found = _read(table, None)
    if found is None:
        return None
    try:
        hosts = sorted(n for n in os.listdir(NETNS_DIR) if re.fullmatch(rf"{table}-host\d+", n))
    except OSError:
        hosts = []
    for namespace in hosts:
        more = _read(table, namespace)
        if more is not None:
            connections = dict(found.connections)
            for key, count in more.connections.items():
                connections[key] = connections.get(key, 0) + count
            found = FirewallCounters(connections, found.denied + more.denied)
    return found


def _read(table: str, namespace: str | None) -> FirewallCounters | None:
    argv = ["nft", "-j", "list", "table", "inet", table]
    if namespace is not None:
        argv = ["nsenter", f"--net={NETNS_DIR}/{namespace}", *argv]
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=5, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if out.returncode != 0:
        return None
    return parse(json.loads(out.stdout))


def parse(document: dict[str, Any]) -> FirewallCounters:
    connections: dict[str, int] = {}
    denied: list[Denied] = []
    for item in document.get("nftables", []):
        if rule := item.get("rule"):
            comment = rule.get("comment", "")
            counter = next((e["counter"] for e in rule.get("expr", []) if "counter" in e), None)
            if " -> " in comment and not comment.endswith(ARRIVING) and isinstance(counter, dict):
                source, _, rest = comment.partition(" -> ")
                target = rest.rsplit(":", 1)[0]
                key = f"{source}->{target}"
                connections[key] = connections.get(key, 0) + int(counter["packets"])
        elif (named := item.get("set")) and named.get("name") == DENIED_SET:
            for element in named.get("elem", []):
                body = element.get("elem", {})
                parts = body.get("val", {}).get("concat", [])
                if len(parts) == 3:
                    packets = int(body.get("counter", {}).get("packets", 0))
                    denied.append(Denied(str(parts[0]), str(parts[1]), int(parts[2]), packets))
    return FirewallCounters(connections, tuple(denied))
