"""PNG charts with matplotlib: throughput per mode and path; latency percentiles vs connections."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

from shopnet.bench.aggregate import MODE_ORDER, Summary


def _pyplot() -> ModuleType:
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    return plt


def throughput(summaries: list[Summary], connections: int, path: Path) -> None:
    """Grouped bars: requests/s per mode and path, one group per workload."""
    plt = _pyplot()
    cells = [s for s in summaries if not s.paced and s.connections == connections]
    series = sorted(
        {(s.mode, s.path) for s in cells},
        key=lambda mp: (MODE_ORDER.index(mp[0]) if mp[0] in MODE_ORDER else 9, mp[1]),
    )
    workloads = [w for w in dict.fromkeys(s.workload for s in cells)]
    fig, ax = plt.subplots(figsize=(max(8, 1.6 * len(workloads) + 4), 5))
    width = 0.8 / max(1, len(series))
    for i, (mode, route) in enumerate(series):
        values = [
            next((s.rps for s in cells if (s.mode, s.path, s.workload) == (mode, route, w)), 0)
            for w in workloads
        ]
        ax.bar(
            [x + i * width for x in range(len(workloads))], values, width, label=f"{mode} · {route}"
        )
    ax.set_xticks([x + width * (len(series) - 1) / 2 for x in range(len(workloads))], workloads)
    ax.set_ylabel("requests/s (median)")
    ax.set_title(f"Throughput per mode and path ({connections} connections)")
    ax.legend(fontsize="small", ncol=2)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def latency_vs_connections(summaries: list[Summary], path: Path) -> None:
    """p50 and p99 of the main path's cache-hit workload, per mode, against connections."""
    plt = _pyplot()
    cells = [s for s in summaries if s.main and not s.paced and s.workload == "product_hit"]
    fig, ax = plt.subplots(figsize=(8, 5))
    for mode in [m for m in MODE_ORDER if any(s.mode == m for s in cells)]:
        points = sorted((s.connections, s.latency) for s in cells if s.mode == mode)
        xs = [c for c, _ in points]
        ax.plot(xs, [lat.p50 for _, lat in points], marker="o", label=f"{mode} p50")
        ax.plot(xs, [lat.p99 for _, lat in points], marker="s", linestyle="--", label=f"{mode} p99")
    ax.set_xscale("symlog", base=2, linthresh=1)
    counts = sorted({s.connections for s in cells})
    ax.set_xticks(counts, [str(c) for c in counts])
    ax.set_xlabel("connections")
    ax.set_ylabel("latency, ms (closed loop)")
    ax.set_title("Latency percentiles vs connections (gateway, cache hit)")
    ax.legend(fontsize="small")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
