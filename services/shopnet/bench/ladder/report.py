"""ladder.md and its chart: one row per primitive, what it adds over its base, and the
published figures beside ours."""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

from shopnet.bench.noise import busy_warning
from shopnet.bench.stats import Interval, difference_interval, median_interval

PUBLISHED = (
    "- Same-host TCP, qperf (a widely cited blog measurement of Docker networking): bare metal "
    "6.73 µs / 4,874 Mb/s, host networking 7.9 µs / 4,639 Mb/s, Linux bridge 9.04 µs / "
    "4,024 Mb/s — a bridge ≈ +34 % latency and −17 % bandwidth over bare metal.",
    "- Overlays cross the network stack twice per packet: Slim (NSDI'19) removed the second "
    "pass and gave memcached +66 % throughput, −42 % latency and −54 % CPU against Weave's overlay.",
    "- docker-proxy copies every byte through a user-space process: kubernetes/kubernetes#24876 "
    "saw it at 50 % CPU where nginx used 20 % (also moby/moby#13379).",
    "- Kernel versions move all of these (SOSP'19, \"An analysis of performance evolution of "
    "Linux's core operations\": mostly security hardening) — hence the machine facts above.",
)


_PIN = {
    "same": "client and server on one core (a hop's own cost, no cross-core wake-up)",
    "split": "client and server on two cores (cross-core wake-ups included)",
    "none": "no (where the scheduler put them)",
}


def _by_row(data: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    rows: dict[str, list[dict[str, Any]]] = {}
    for sample in data.get("samples", []):
        rows.setdefault(sample["row"], []).append(sample)
    return rows


def _values(samples: list[dict[str, Any]], key: str) -> list[float]:
    return [float(s[key]) for s in samples]


def _fmt(interval: Interval, fmt: str) -> str:
    if interval.low is None or interval.high is None:
        return fmt.format(interval.value)
    return f"{fmt.format(interval.value)} [{fmt.format(interval.low)}–{fmt.format(interval.high)}]"


def _delta(mine: list[float], base: list[float], fmt: str = "{:+.1f}") -> str:
    interval = difference_interval(mine, base)
    if interval.low is None or interval.high is None:
        return fmt.format(interval.value)
    return f"{fmt.format(interval.value)} [{fmt.format(interval.low)}…{fmt.format(interval.high)}]"


def table(data: dict[str, Any]) -> list[str]:
    by_row = _by_row(data)
    lines = [
        "| row | builds on | p50 RTT µs | p99 RTT µs | transactions/s | Gbit/s "
        "| CPU µs/tx | kernel µs/tx | softirq µs/tx | adds CPU µs/tx | adds p50 µs |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in data.get("rows", []):
        name, base = row["name"], row.get("base")
        samples = by_row.get(name)
        if not samples:
            why = row.get("skipped", "not measured")
            lines.append(f"| {name} | {base or '–'} | – | – | – | – | – | – | – | – | {why} |")
            continue
        cells = [
            _fmt(median_interval(_values(samples, "p50_us")), "{:.1f}"),
            _fmt(median_interval(_values(samples, "p99_us")), "{:.1f}"),
            f"{statistics.median(_values(samples, 'transactions_per_s')):,.0f}",
            f"{statistics.median(_values(samples, 'gbps')):.2f}",
            _fmt(median_interval(_values(samples, "cpu_us")), "{:.1f}"),
            f"{statistics.median(_values(samples, 'kernel_us')):.1f}",
            f"{statistics.median(float(s.get('softirq_us', 0.0)) for s in samples):.1f}",
        ]
        base_samples = by_row.get(base or "")
        if base_samples:
            cells.append(_delta(_values(samples, "cpu_us"), _values(base_samples, "cpu_us")))
            cells.append(_delta(_values(samples, "p50_us"), _values(base_samples, "p50_us")))
        else:
            cells += ["–", "–"]
        lines.append(f"| {name} | {base or '–'} | " + " | ".join(cells) + " |")
    return lines


def _beside(by_row: dict[str, list[dict[str, Any]]]) -> list[str]:
    """Ours against the published ratios, computed from this run's medians."""

    def med(row: str, key: str) -> float | None:
        samples = by_row.get(row)
        return statistics.median(_values(samples, key)) if samples else None

    lines = []
    lo, br = med("loopback", "p50_us"), med("bridge", "p50_us")
    lo_bw, br_bw = med("loopback", "gbps"), med("bridge", "gbps")
    if lo and br and lo_bw and br_bw:
        lines.append(
            f"- Ours: two namespaces on a bridge add {br / lo - 1:+.0%} to loopback's round trip "
            f"and change its single-stream bandwidth by {br_bw / lo_bw - 1:+.0%} (published: "
            "+34 % and −17 % over bare metal). Loopback is not bare metal (no NIC, and one "
            "stream saturates memory copies, not a wire), and our message is 14 bytes: the "
            "latency step is the comparable part."
        )
    proxy, dnat = med("docker-proxy", "cpu_us"), med("published port (DNAT)", "cpu_us")
    if proxy and dnat:
        lines.append(
            f"- Ours: docker-proxy costs {proxy / dnat:.1f}× the CPU per transaction of Docker's "
            "kernel DNAT to the same container (and docker-proxy is not pinned with the probes: "
            "its wake-ups cross cores), the effect kubernetes#24876 reports."
        )
    vx, routed = med("VXLAN", "cpu_us"), med("routed", "cpu_us")
    if vx and routed:
        lines.append(
            f"- Ours: VXLAN costs {vx / routed - 1:+.0%} CPU per transaction over routing the "
            "same two bridges (the second pass through the stack Slim removes); with one flow "
            "in flight it is far from the CPU-bound regime the overlay studies describe."
        )
    return [*lines, ""] if lines else []


def render(data: dict[str, Any], chart: str | None = "charts/ladder.png") -> str:
    m = data.get("machine", {})
    opts = data.get("options", {})
    load = data.get("load_before", {})
    out = [
        "# The per-hop ladder: what each network primitive costs\n",
        f"Measured by `shopnet bench --ladder{' --quick' if opts.get('quick') else ''}` on "
        f"{data.get('started', '?')}: kernel {m.get('kernel', '?')}, {m.get('cores', '?')} cores "
        f"({m.get('cpu', '?')}), {opts.get('repeats', '?')} interleaved repeats of a "
        f"{opts.get('ping_s', '?')} s TCP ping-pong (sockperf, 14-byte messages, full round "
        f"trip, one in flight) and a {opts.get('iperf_s', '?')} s single-stream iperf3 per row, "
        f"probes pinned: {_PIN.get(opts.get('pin', 'none'), opts.get('pin'))}. "
        f"Load before the run: {load.get('loadavg_1m', '?')} (1 min), "
        f"{float(load.get('busy_share', 0)):.0%} of CPU busy.\n",
        "Figures are medians over the repeats, 95 % bootstrap intervals in brackets (what a "
        "hop *adds* is the difference of the medians, its interval the same way; "
        "docs/benchmarks.md). *CPU µs/tx* is both probes' CPU, docker-proxy's where it is in "
        "the path, and the machine's softirq time, per transaction: the steadier figure here. "
        "*kernel* is its part outside user space, *softirq* the packet work the machine "
        "accounted outside any process (the rest of the kernel's share was charged to the "
        "probes: on a veth the receiver's stack often runs in the sender's context).\n",
    ]
    if warning := busy_warning(load):
        out.append(f"> **⚠ {warning}.**\n")
    out += table(data)
    out.append("")
    out.append("### What each row measures\n")
    for row in data.get("rows", []):
        out.append(f"- **{row['name']}** (on {row.get('base') or 'nothing'}): {row['what']}.")
    out.append("")
    out.append("### The machine\n")
    br = m.get("br_netfilter")
    out.append(f"- br_netfilter on the host: {br}; conntrack: {m.get('conntrack', {})}.")
    out.append(
        "- The netns rows' bridges live in simulated hosts (namespaces of their own) that copy "
        "the host's br_netfilter switches, so bridged frames meet netfilter's hooks as on the "
        "host, without Docker's FORWARD DROP (which would drop them) and without Docker's own "
        "rules; the docker rows cross the real host with all of Docker's rules."
    )
    mitigations = m.get("mitigations", {})
    if mitigations:
        active = sorted(k for k, v in mitigations.items() if not v.startswith("Not affected"))
        out.append(
            f"- CPU vulnerabilities with mitigations or exposure ({len(active)} of "
            f"{len(mitigations)}): " + "; ".join(f"{k}: {mitigations[k]}" for k in active) + "."
        )
    out.append("")
    out.append("### Published figures beside ours\n")
    out += list(PUBLISHED)
    out.append("")
    out += _beside(_by_row(data))
    if chart:
        out.append(f"![CPU per transaction and p50 round trip per row]({chart})\n")
    return "\n".join(out) + "\n"


def draw(data: dict[str, Any], path: Path) -> None:
    """Bars of CPU µs per transaction and p50 round trip per measured row."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    by_row = _by_row(data)
    names = [r["name"] for r in data.get("rows", []) if r["name"] in by_row]
    if not names:
        return
    cpu = [statistics.median(_values(by_row[n], "cpu_us")) for n in names]
    p50 = [statistics.median(_values(by_row[n], "p50_us")) for n in names]
    fig, axes = plt.subplots(1, 2, figsize=(11, 0.45 * len(names) + 1.5), sharey=True)
    axes[0].barh(names, cpu, color="#4c72b0")
    axes[0].set_xlabel("CPU µs per transaction")
    axes[1].barh(names, p50, color="#dd8452")
    axes[1].set_xlabel("p50 round trip µs")
    axes[0].invert_yaxis()
    fig.suptitle("The per-hop ladder (sockperf TCP ping-pong)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
