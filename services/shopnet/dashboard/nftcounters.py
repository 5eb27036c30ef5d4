"""netns mode: the counters of our nftables table, read with `nft -j list table`.

Each flow's accept rule counts the connections it let open (its comment is
"source -> target:port"); the dynamic set `denied` holds one counter per refused
(source address, destination address, port) — see shopnet_netns.firewall.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass

DENIED_SET = "denied"


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
    """The counters of `table inet <table>`, or None when it is not there (or nft is missing)."""
    try:
        out = subprocess.run(
            ["nft", "-j", "list", "table", "inet", table],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if out.returncode != 0:
        return None
    return parse(json.loads(out.stdout))


def parse(document: dict) -> FirewallCounters:
    connections: dict[str, int] = {}
    denied: list[Denied] = []
    for item in document.get("nftables", []):
        if rule := item.get("rule"):
            comment = rule.get("comment", "")
            counter = next((e["counter"] for e in rule.get("expr", []) if "counter" in e), None)
            if " -> " in comment and isinstance(counter, dict):
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
