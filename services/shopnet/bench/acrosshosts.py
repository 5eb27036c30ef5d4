"""The report's "Across hosts" section: netns on one host vs the same stack over VXLAN.

`shopnet bench --modes netns,netns:hosts2` runs both in the same interleaved
loop. With two hosts, instances are placed round-robin (the gateway and one
product on host 1, the other product, Redis and the order service on host 2),
so on the main path about half of the gateway → product hops and every product
→ Redis hop of the remote product cross the underlay: encapsulated by one
host's VXLAN device, bridged on the underlay, decapsulated by the other's. The
difference between the two rows is that path's cost: throughput, latency and
CPU per request (mostly kernel softirq: the extra device hops and the second
host's bridge and conntrack).
"""

from __future__ import annotations

import re

from shopnet.bench.aggregate import Summary, find
from shopnet.bench.cpu import components

_HOSTS = re.compile(r":hosts(\d+)$")


def counterpart(mode: str) -> str | None:
    """The single-host mode a `…:hostsN` mode is compared with (`netns:routed:hosts2` → netns)."""
    if not _HOSTS.search(mode):
        return None
    single = _HOSTS.sub("", mode)
    return "netns" if single in ("netns", "netns:routed") else single


def section(closed: list[Summary], conns: int) -> list[str]:
    """Markdown lines (empty when no `hostsN` variant was measured)."""
    pairs = []
    for mode in dict.fromkeys(s.mode for s in closed):
        base = counterpart(mode)
        if base is None:
            continue
        many = find(closed, mode=mode, connections=conns)
        one = find(closed, mode=base, connections=conns)
        if many is not None and one is not None:
            pairs.append((one, many))
    if not pairs:
        return []
    lines = [
        "## Across hosts (VXLAN)\n",
        f"The main path (cache hit, {conns} connections) with every instance on one host "
        "and spread over simulated hosts joined by VXLAN (`shopnet up --hosts N`; static "
        "forwarding entries, UDP 4789, MTU 1450 on the tiers), in the same interleaved run. "
        "CPU is per request, as in the table above (softirq: packet processing outside any "
        "process, where VXLAN decapsulation and the second host's bridge and conntrack land; "
        "`other` is the rest of the machine's busy time):\n",
        "| mode | req/s | p50 ms | p99 ms | CPU µs/req | softirq µs/req |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for one, many in pairs:
        for s in (one, many):
            cpu, soft = s.cpu_us.get("total"), s.cpu_us.get("kernel softirq")
            lines.append(
                f"| {s.mode} | {s.rps:,.0f} | {s.latency.p50:.2f} | {s.latency.p99:.2f} "
                f"| {_num(cpu)} | {_num(soft)} |"
            )
    lines.append("")
    for one, many in pairs:
        lines.append(f"- **{many.mode} vs {one.mode}**: {_cost(one, many)}")
    lines.append("")
    return lines


def _num(value: float | None) -> str:
    return f"{value:.0f}" if value is not None else "–"


def _cost(one: Summary, many: Summary) -> str:
    ratio = many.rps / one.rps if one.rps else 0.0
    p50 = many.latency.p50 - one.latency.p50
    shown = f"{p50:+.1f} ms" if abs(p50) >= 1 else f"{p50 * 1000:+.0f} µs"
    text = f"throughput {ratio:.2f}× ({(ratio - 1) * 100:+.0f}%), p50 {shown}"
    if one.cpu_us and many.cpu_us:
        grew = sorted(
            (
                (many.cpu_us.get(c, 0.0) - one.cpu_us.get(c, 0.0), c)
                for c in components(many.cpu_us)
                if c != "total"
            ),
            reverse=True,
        )
        parts = [f"{name} {delta:+.0f} µs" for delta, name in grew[:3] if abs(delta) >= 0.5]
        total = many.cpu_us.get("total", 0.0) - one.cpu_us.get("total", 0.0)
        text += f", CPU per request {total:+.0f} µs" + (f" ({', '.join(parts)})" if parts else "")
    return text + "."
