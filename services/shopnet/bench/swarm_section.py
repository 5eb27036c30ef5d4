"""The report's "Across hosts: Swarm vs compose" section, from the numbers.

Both modes run the same stack from one compose model; swarm puts it on two
nodes (overlay networks over VXLAN, one product replica on each node), compose
on one host's bridges. The same workloads, interleaved, same run.
"""

from __future__ import annotations

from shopnet.bench.aggregate import Summary, find


def lines(closed: list[Summary], conns: int) -> list[str]:
    """Markdown lines, or [] when the run measured swarm or docker not at all."""
    rows = []
    for workload in ("product_hit", "product_miss", "order_create", "mix"):
        at = conns if workload == "product_hit" else None  # the others run at their own count
        compose = find(closed, mode="docker", workload=workload, connections=at)
        swarm = find(closed, mode="swarm", workload=workload, connections=at)
        if compose and swarm and compose.rps:
            rows.append(
                f"| {workload} | {compose.rps:,.0f} | {swarm.rps:,.0f} | "
                f"{swarm.rps / compose.rps:.2f} | {compose.latency.p99:.2f} | "
                f"{swarm.latency.p99:.2f} | {_cpu(compose)} | {_cpu(swarm)} |"
            )
    if not rows:
        return []
    return [
        "## Across hosts: Swarm vs compose\n",
        "The same stack from the same compose model: `docker` on one host's bridges, `swarm` "
        "on two nodes of this machine (this engine and a second dockerd in a namespace), "
        "tiers as VXLAN overlays, `endpoint_mode: dnsrr`, the gateway published in host mode "
        f"on node 1 and one product replica per node; main path, {conns} connections:\n",
        "| workload | compose req/s | swarm req/s | swarm / compose | compose p99 ms "
        "| swarm p99 ms | compose CPU µs/req | swarm CPU µs/req |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
        *rows,
        "",
    ]


def _cpu(s: Summary) -> str:
    total = s.cpu_us.get("total") if s.cpu_us else None
    return f"{total:.0f}" if total else "–"
