"""The report's "Wiring as a variable" section: each wiring next to the one it varies.

`shopnet bench --modes netns:routed,netns:attached,docker:tiered,docker:single,…`
measures the wirings in one interleaved run. Each pair differs in one thing, said
here once, so the numbers can be read as that thing's cost:

- netns attached vs routed: an instance gets a leg on every tier it talks to, so
  gateway → product and product → Redis cross one bridge instead of bridge → host
  routing → bridge (one IP forward pass fewer per packet: route lookup, TTL, the
  forward hook's conntrack and rules); the flows are still enforced, on the bridge,
  by br_netfilter.
- docker single vs tiered: one `app-network` instead of three; Docker already
  attaches a container to every network it talks to, so the packets take the same
  number of hops and the difference is what may connect (the matrices below), not speed.
- docker single with DNS discovery vs with the registry: the gateway balances over
  the addresses Docker's DNS gives for a service name, re-resolved; nothing else moves.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shopnet.bench.aggregate import Summary, find
from shopnet.bench.cpu_report import cpu_delta

# (variant, what it is compared with, what differs), in the report's order.
PAIRS = (
    ("netns:attached", "netns", "a leg per tier talked to, no host routing between tiers"),
    ("netns:attached", "local", "the attached namespaces against loopback"),
    ("docker:single", "docker", "one app-network instead of three tier networks"),
    ("docker:single:dns", "docker:single", "balancing by Docker's DNS instead of the registry"),
)


def lines(closed: list[Summary], conns: int, matrices: Mapping[str, Any] | None) -> list[str]:
    """Markdown lines, or [] when the run measured no wiring variant."""
    rows, notes = [], []
    for mode, base, differs in PAIRS:
        a = find(closed, mode=mode, connections=conns)
        b = find(closed, mode=base, connections=conns)
        if a is None or b is None or not b.rps:
            continue
        rows.append(
            f"| {mode} vs {base} | {differs} | {a.rps:,.0f} / {b.rps:,.0f} | {a.rps / b.rps:.2f}× "
            f"| {a.latency.p99:.2f} / {b.latency.p99:.2f} | {_cpu(a)} / {_cpu(b)} |"
        )
        delta = cpu_delta(a, b).strip()
        if delta:
            notes.append(f"- **{mode} vs {base}**: {delta}")
    if not rows:
        return []
    out = [
        "## Wiring as a variable\n",
        f"The main path (cache hit, {conns} connections), each wiring next to the one it "
        "varies, in the same interleaved run. CPU is per request, every process and the "
        "kernel's softirq time included (the component table above splits it):\n",
        "| pair | what differs | req/s | ratio | p99 ms | CPU µs/req |",
        "|---|---|---:|---:|---:|---:|",
        *rows,
        "",
        *notes,
        "",
    ]
    shown = {
        m: v for m, v in (matrices or {}).items() if m.partition(":")[0] in ("netns", "docker")
    }
    if shown:
        out.append(
            "What may connect, per wiring (`shopnet isolation` on the running stack: every "
            "pair of instances probed against the topology's flows). A single app-network "
            "lets through what the tiers deny; attached netns keeps the tiered matrix:\n"
        )
        for mode, cell in shown.items():
            verdict = "as the topology says" if cell.get("ok") else "NOT as the topology says"
            out += [
                f"**{mode}** ({verdict}):\n",
                "```",
                str(cell.get("text", "")).rstrip(),
                "```",
                "",
            ]
    return out


def _cpu(s: Summary) -> str:
    total = s.cpu_us.get("total") if s.cpu_us else None
    return f"{total:.0f}" if total else "–"
