"""The Markdown report: tables, ratios, targets, and pros and cons written from the numbers.

Nothing here is typed by hand: every sentence is chosen and filled in from the
measured medians, so re-running the bench rewrites the conclusions too.
"""

from __future__ import annotations

from typing import Any

from shopnet.bench import (
    capacity_section,
    lifecycle,
    model,
    orders,
    swarm_section,
    wiring_section,
)
from shopnet.bench.acrosshosts import section as across_hosts
from shopnet.bench.aggregate import (
    MODE_ORDER,
    Ratio,
    Summary,
    cpu_ratios,
    find,
    modes_of,
    ratios,
    summarize,
)
from shopnet.bench.cpu_report import cpu_delta, cpu_table, path_cpu_table
from shopnet.bench.noise import busy_warning, wrk_warnings
from shopnet.bench.results import Results
from shopnet.bench.stats import coefficient_of_variation, median_interval, verdict
from shopnet.bench.wrk import WORKLOADS
from shopnet.product.seed import SOLD_OUT_EVERY

TARGET_RPS = 5400
TARGET_P99_MS = 20.0

WORKLOAD_TITLES = {
    "product_hit": "GET /api/products/{id}, cache hit",
    "product_miss": "GET /api/products/{id}, cache miss path (Redis flushed, random ids)",
    "product_list": "GET /api/products?page=…",
    "order_create": "POST /api/orders (unique Idempotency-Key per request)",
    "mix": "Mix: 80% product reads, 10% lists, 10% orders",
}


def _row(s: Summary) -> str:
    lat = s.latency
    miss = f"{s.miss_ratio:.0%}" if s.miss_ratio is not None else "–"
    return (
        f"| {s.mode} | {s.path} | {s.connections} | {s.rps:,.0f} | {lat.mean:.2f} | {lat.p50:.2f} "
        f"| {lat.p90:.2f} | {lat.p99:.2f} | {lat.max:.1f} | {_failed(s)} | {miss} |"
    )


def _repeats(results: Results, opts: dict[str, Any]) -> str:
    """The repeats measured, and the planned number when the run stopped short of it."""
    planned = opts.get("repeats", "?")
    done = max((run.repeat for run in results.runs), default=0)
    if isinstance(planned, int) and done < planned:
        return f"{done} (of {planned} planned: the run stopped early)"
    return str(planned)


def _failed(s: Summary) -> str:
    """The failed count, with the stock refusals among them when they were counted."""
    if s.conflicts and s.workload != "order_limited":
        return f"{s.failed} ({s.conflicts} × 409)"
    return str(s.failed)


_HEADER = (
    "| mode | path | conns | req/s | mean ms | p50 ms | p90 ms | p99 ms | max ms | failed | misses |\n"
    "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
)


def _sorted(summaries: list[Summary]) -> list[Summary]:
    return sorted(
        summaries,
        key=lambda s: (
            _mode_rank(s.mode),
            s.mode,
            not s.main,
            s.path,
            s.connections,
        ),
    )


def render(results: Results) -> str:
    meta = results.meta
    opts = meta.get("options", {})
    conns = int(opts.get("connections", 64))
    summaries = summarize(results.runs)
    closed = [s for s in summaries if not s.paced]
    machine = meta.get("machine", {})
    out: list[str] = []
    out.append("# shopnet: local vs netns vs docker\n")
    out.append(
        f"Measured by `shopnet bench` on {meta.get('started', '?')} on {machine.get('os', '?')}, "
        f"kernel {machine.get('kernel', '?')}, {machine.get('cores', '?')} cores "
        f"({machine.get('cpu', '?')}), {machine.get('memory_gib', '?')} GiB; commit "
        f"`{meta.get('commit') or 'unknown'}`. Load from wrk ({meta.get('versions', {}).get('wrk') or 'wrk'}), "
        f"{opts.get('duration_s', '?')} s per run, {_repeats(results, opts)} interleaved repeat(s) "
        f"per mode (figures are medians over repeats), scale {opts.get('scale', {})}.\n"
    )
    out.append(
        "Latency figures are **closed-loop** (wrk waits for each answer before sending the next on a "
        "connection, so queueing delay is under-reported — coordinated omission), except the "
        "*open-loop* table, where requests are sent on a fixed schedule at "
        f"{float(opts.get('paced_fraction', 0.5)):.0%} of the measured maximum and each latency is "
        "measured from the request's scheduled time.\n"
    )

    broken = results.broken_stock()
    if broken:
        where = ", ".join(f"{r.mode} (repeat {r.repeat})" for r in broken)
        out.append(
            f"> **⚠ STOCK INVARIANT BROKEN** in {where}: the orders placed and the stock left do "
            "not add up to the stock given — see *Orders against limited stock* below.\n"
        )

    warnings = [w for w in [busy_warning(meta.get("load_before"))] if w]
    warnings += wrk_warnings(closed, int(opts.get("threads", 1)))
    for warning in warnings:
        out.append(f"> **⚠ {warning}.**\n")

    out += capacity_section.lines(meta, modes_of(summaries))
    out.append("## Comparison analysis\n")
    out.append(
        f"The main path — through the gateway from the host's port, cache hit, {conns} "
        "connections, closed-loop peak:\n"
    )
    out.append(_HEADER)
    for mode in modes_of(closed):
        s = find(closed, mode=mode, connections=conns)
        if s:
            out.append(_row(s))
    out.append("")
    out.append("### Targets\n")
    out += _targets(closed, conns)
    out.append("")
    out += _variation(closed, conns)
    out.append("### Ratios (cache hit, same run)\n")
    out.append(
        "Each ratio is of the medians over the repeats, with its 95 % bootstrap interval in "
        "brackets; the verdict is judged on the interval (see docs/benchmarks.md, *Reading "
        "an interval*).\n"
    )
    out.append("| ratio | value [95 % interval] | target | verdict |\n|---|---:|---:|---|")
    for r in ratios(closed, conns) + cpu_ratios(closed, conns):
        out.append(_ratio_row(r))
    out.append("")
    profile = cpu_table(closed, conns, meta.get("baseline"))
    if profile:
        out.append("### Where the CPU goes (µs of CPU per request, main path, cache hit)\n")
        out += profile
        out.append("")
    if meta.get("ladder"):
        measured, profiles = {}, {}
        for mode in modes_of(closed):
            s = find(closed, mode=mode, connections=conns)
            if s is not None and s.cpu_us.get("total"):
                measured[mode] = s.cpu_us["total"]
                profiles[mode] = s.cpu_us
        out += model.lines(model.predict(meta["ladder"], measured, profiles))
    by_path = path_cpu_table(closed, conns)
    if by_path:
        out.append("### CPU per request of each path's server (cache hit)\n")
        out += by_path
        out.append("")
    out.append("### Pros and cons, from these numbers\n")
    out += _pros_cons(closed, conns)
    out.append("")
    out += wiring_section.lines(closed, conns, meta.get("matrix"))
    out += across_hosts(closed, conns)
    out += swarm_section.lines(closed, conns)

    for workload in WORKLOADS:
        cells = [
            s
            for s in closed
            if s.workload == workload and (workload != "product_hit" or s.connections == conns)
        ]
        if not cells:
            continue
        out.append(f"## {WORKLOAD_TITLES[workload]}\n")
        out.append(_HEADER)
        out += [_row(s) for s in _sorted(cells)]
        out.append("")
        if workload in ("order_create", "mix"):
            out.append(
                f"*failed* counts every answer ≥ 400 and every socket error; in brackets, the "
                f"409 insufficient_stock refusals among them. The seed catalogue has no stock of "
                f"every {SOLD_OUT_EVERY}th product, so about one order in {SOLD_OUT_EVERY} (they "
                "pick products at random) is rightly refused that way.\n"
            )

    sweep = [s for s in closed if s.main and s.workload == "product_hit"]
    if len({s.connections for s in sweep}) > 1:
        out.append("## Connections sweep (main path, cache hit)\n")
        out.append(_HEADER)
        out += [_row(s) for s in _sorted(sweep)]
        out.append("")

    out += stock_rows(results)

    paced = [s for s in summaries if s.paced]
    if paced:
        out.append("## Open-loop latency (coordinated omission corrected)\n")
        out.append(
            "| mode | path | rate req/s | achieved req/s | mean ms | p50 ms | p90 ms | p99 ms | max ms | failed |"
        )
        out.append("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
        for s in _sorted(paced):
            lat = s.latency
            out.append(
                f"| {s.mode} | {s.path} | {s.rate:,.0f} | {s.rps:,.0f} | {lat.mean:.2f} | {lat.p50:.2f} "
                f"| {lat.p90:.2f} | {lat.p99:.2f} | {lat.max:.1f} | {s.failed} |"
            )
        out.append("")

    out += lifecycle.rows(meta)
    if meta.get("isolation"):
        from shopnet.audit.render import side_by_side

        out.append(side_by_side(meta["isolation"]))
    out.append("## Charts\n")
    out.append("![Throughput per mode and path](charts/throughput.png)\n")
    out.append("![Latency percentiles vs connections](charts/latency_vs_connections.png)\n")
    return "\n".join(out) + "\n"


def stock_rows(results: Results) -> list[str]:
    """One row per limited-stock run: what was given, sold, refused and left, and the verdict."""
    runs = [r for r in results.runs if r.stock is not None]
    if not runs:
        return []
    first = runs[0].stock
    assert first is not None
    lines = [
        f"## {orders.TITLE}\n",
        f"Products {orders.PRODUCT_IDS[0]}–{orders.PRODUCT_IDS[1]} get {first.stock_each} units "
        "each through the gateway; wrk then orders one unit at a time until the run ends, and "
        "the stock and the run's stored orders are read back. Every unit sold must be a placed "
        "order (placed = given − left), and the stock must never go below zero. *created* "
        "counts the 201s wrk saw; orders it cut off mid-flight at the end are placed but "
        "not seen.\n",
        "| mode | repeat | conns | requests/s | given | placed | created | conflicts (409) "
        "| other failures | stock left | placed = given − left | never oversold |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|:-:|:-:|",
    ]
    for run in sorted(runs, key=lambda r: (_mode_rank(r.mode), r.mode, r.repeat)):
        stock, result = run.stock, run.result
        assert stock is not None
        adds_up = stock.placed == stock.given - stock.stock_left and stock.created <= stock.placed
        lines.append(
            f"| {run.mode} | {run.repeat} | {run.connections} | {result.rps:,.0f} | {stock.given} "
            f"| {stock.placed} | {stock.created} | {stock.conflicts} | {result.failed - stock.conflicts} "
            f"| {stock.stock_left} | {'✓' if adds_up else '**✗ BROKEN**'} "
            f"| {'**✗ OVERSOLD**' if stock.oversold else '✓'} |"
        )
    lines.append("")
    return lines


def _mode_rank(mode: str) -> int:
    base = mode.partition(":")[0]
    return MODE_ORDER.index(base) if base in MODE_ORDER else 9


def _ratio_row(r: Ratio) -> str:
    if r.interval is not None:
        value = r.interval.text()
    else:
        value = f"{r.value:.2f}×" if r.value is not None else "not measured"
    target = r.goal or "–"
    judged = (r.verdict or "–") if r.value is not None else "–"
    return f"| {r.name} | {value} | {target} | {judged} |"


def _variation(closed: list[Summary], conns: int) -> list[str]:
    """Coefficient of variation of each mode's main path over its repeats."""
    rows = []
    for mode in modes_of(closed):
        s = find(closed, mode=mode, connections=conns)
        if s is None:
            continue
        cv = s.cv
        interval = median_interval(s.rps_samples) if s.rps_samples else None
        rows.append(
            f"| {mode} | {len(s.rps_samples) or s.repeats} | "
            + (interval.text("{:,.0f}", "") if interval else f"{s.rps:,.0f}")
            + f" | {'–' if cv is None else f'{cv:.1%}'} |"
        )
    if not rows:
        return []
    return [
        "### Run-to-run variation (main path, cache hit)\n",
        "| mode | repeats | req/s median [95 % interval] | coefficient of variation |",
        "|---|---:|---:|---:|",
        *rows,
        "",
    ]


def _targets(closed: list[Summary], conns: int) -> list[str]:
    lines = []
    for mode in ("local", "netns"):
        s = find(closed, mode=mode, connections=conns)
        if s is None:
            continue
        rps = median_interval(s.rps_samples or (s.rps,))
        p99 = median_interval(s.p99_samples or (s.latency.p99,))
        rps_text = (
            f"{rps.text('{:,.0f}', ' req/s')} (target ≥ {TARGET_RPS:,}): "
            f"{verdict(rps, target=TARGET_RPS)}"
        )
        p99_text = (
            f"p99 {p99.text('{:.1f}', ' ms')} (target ≤ {TARGET_P99_MS:.0f}): "
            f"{verdict(p99, target=TARGET_P99_MS, at_most=True)}"
        )
        cv = coefficient_of_variation(s.rps_samples)
        spread = f" (req/s varies {cv:.0%} between repeats)" if cv is not None else ""
        lines.append(
            f"- {mode}, gateway, cache hit, {conns} connections: {rps_text}; {p99_text}{spread}."
        )
    for r in ratios(closed, conns) + cpu_ratios(closed, conns):
        if r.goal is not None and r.value is not None:
            judged = r.miss
            why = ""
            if r.met is False:
                num = find(closed, mode=r.numerator.split()[0], connections=conns)
                den = find(closed, mode=r.denominator.split()[0], connections=conns)
                if (
                    num
                    and den
                    and r.numerator.endswith("gateway")
                    and r.denominator.endswith("gateway")
                ):
                    why = cpu_delta(num, den)
            shown = r.interval.text() if r.interval else f"{r.value:.2f}×"
            lines.append(f"- {r.name}: {shown} (target {r.goal}) — {judged}.{why}")
    return lines or ["- (no runs to judge)"]


def _pct(a: float, b: float) -> str:
    return f"{(a / b - 1) * 100:+.0f}%"


def _pros_cons(closed: list[Summary], conns: int) -> list[str]:
    lines: list[str] = []
    local = find(closed, mode="local", connections=conns)
    netns = find(closed, mode="netns", connections=conns)
    direct = find(closed, mode="netns", path="gateway-direct", connections=conns)
    docker = find(closed, mode="docker", connections=conns)
    proxy = find(closed, mode="docker", path="docker-proxy", connections=conns)
    if local and netns:
        cost = netns.latency.p50 - local.latency.p50
        verdict = "costs little" if netns.rps >= 0.95 * local.rps else "has a measurable cost"
        lines.append(
            f"- **netns** {verdict}: {netns.rps:,.0f} vs {local.rps:,.0f} req/s on loopback "
            f"({_pct(netns.rps, local.rps)}), p50 {cost * 1000:+.0f} µs.{cpu_delta(netns, local)} "
            "Pro: the same kernel paths "
            "Docker uses (veth, bridge, routing, nftables), each visible and scriptable. Con: root, and "
            "every rule and interface is yours to manage and clean up."
        )
    if netns and direct:
        lines.append(
            f"- **DNAT on the host port** (netns): {netns.rps:,.0f} vs {direct.rps:,.0f} req/s straight "
            f"to the gateway's address ({_pct(netns.rps, direct.rps)})."
        )
    if docker and netns:
        verdict = "close to" if docker.rps >= 0.9 * netns.rps else "behind"
        lines.append(
            f"- **docker** (through Docker's DNAT) is {verdict} netns: {docker.rps:,.0f} vs "
            f"{netns.rps:,.0f} req/s ({_pct(docker.rps, netns.rps)}), p99 {docker.latency.p99:.1f} vs "
            f"{netns.latency.p99:.1f} ms. Pro: images, health-gated start-up, limits and scaling in one "
            "file. Con: the container runtime and its own rules sit in every path."
            + (
                " Docker is ahead here because it attaches a container to every network it "
                "talks to (gateway to product, product to Redis cross one bridge), while netns "
                "routes every tier crossing through the host, as the topology prescribes: one "
                "more forwarding pass through routing, netfilter and conntrack per hop."
                if docker.rps > netns.rps
                else ""
            )
        )
    if proxy and docker:
        lines.append(
            f"- **docker-proxy** (Docker's userland proxy on 127.0.0.1): {proxy.rps:,.0f} vs "
            f"{docker.rps:,.0f} req/s via DNAT ({_pct(proxy.rps, docker.rps)}), p99 "
            f"{proxy.latency.p99:.1f} vs {docker.latency.p99:.1f} ms — the cost of copying every byte "
            "through a user-space process."
        )
    for mode, ours in (("local", local), ("netns", direct)):
        for path, title in (("nginx", "nginx"), ("haproxy", "HAProxy"), ("caddy", "Caddy")):
            peer = find(closed, mode=mode, path=path, connections=conns)
            if ours and peer:
                lines.append(
                    f"- **our gateway vs {title}** ({mode}): {ours.rps:,.0f} vs {peer.rps:,.0f} "
                    f"req/s ({ours.rps / peer.rps:.2f}×), p99 {ours.latency.p99:.1f} vs "
                    f"{peer.latency.p99:.1f} ms."
                )
    return lines or ["- (run more than one mode to compare)"]


__all__ = ["MODE_ORDER", "modes_of", "render", "stock_rows"]
