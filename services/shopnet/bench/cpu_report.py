"""The report's CPU tables: per component on the main path (before → after with a
baseline), per path for the server doing each path's job, and what grew between two runs."""

from __future__ import annotations

from typing import Any

from shopnet.bench.aggregate import PATH_COMPONENTS, Summary, find, modes_of, path_cpu, summarize
from shopnet.bench.cpu import SYSTEM, components, is_part
from shopnet.bench.results import Results


def cpu_table(
    closed: list[Summary], conns: int, baseline: dict[str, Any] | None = None
) -> list[str]:
    """Per component and mode; with a baseline (`shopnet bench --baseline`), before → after."""
    cells = {
        mode: s.cpu_us
        for mode in modes_of(closed)
        if (s := find(closed, mode=mode, connections=conns)) is not None and s.cpu_us
    }
    if not cells:
        return []
    before: dict[str, dict[str, float]] = (baseline or {}).get("cpu_us", {})
    names = list(dict.fromkeys(c for profile in cells.values() for c in components(profile)))
    # Idle services (order, postgres, registry on the hit path) would only add rows of zeros.
    names = [c for c in names if c != "total" and any(p.get(c, 0.0) >= 0.5 for p in cells.values())]
    # Each process tree's system time, as a row under it, where a run recorded it.
    shown: list[str] = []
    for c in names:
        shown.append(c)
        if any(p.get(c + SYSTEM, 0.0) >= 0.5 for p in cells.values()):
            shown.append(c + SYSTEM)
    shown.append("total")
    lines = [
        "Each process tree's user+system time, the load generator's, the kernel's softirq "
        "time and the rest of the machine's busy time, divided by the requests served "
        "(medians over repeats); *of which system*: the process tree's kernel time, a part "
        "of the row above it. Packets are mostly received in the sending process's context, "
        "and a kernel with tick-based CPU accounting counts that softirq time in the "
        "process's system time *and* in the softirq row: the rows overlap by up to the "
        "softirq row, and *other* (the rest, floored at 0) is that much too low"
        + (
            f"; before → after, the baseline being {baseline.get('source', '?')} "
            f"(commit `{baseline.get('commit') or 'unknown'}`)"
            if before and baseline
            else ""
        )
        + ":\n",
        "| component | " + " | ".join(cells) + " |",
        "|---|" + "---:|" * len(cells),
    ]

    def cell(mode: str, component: str) -> str:
        after = f"{cells[mode].get(component, 0.0):.1f}"
        if component not in before.get(mode, {}):
            return after
        return f"{before[mode][component]:.1f} → {after}"

    for component in shown:
        values = " | ".join(cell(m, component) for m in cells)
        name = f"**{component}**" if component == "total" else component
        if is_part(component):
            name = "↳ of which system"
        lines.append(f"| {name} | {values} |")
    return lines


def baseline_of(results: Results, source: str) -> dict[str, Any]:
    """What the CPU table compares with: the main path's CPU per component, per mode."""
    conns = int(results.meta.get("options", {}).get("connections", 64))
    closed = [s for s in summarize(results.runs) if not s.paced]
    cpu = {
        mode: s.cpu_us
        for mode in modes_of(closed)
        if (s := find(closed, mode=mode, connections=conns)) is not None and s.cpu_us
    }
    return {"source": source, "commit": results.meta.get("commit"), "cpu_us": cpu}


def path_cpu_table(closed: list[Summary], conns: int) -> list[str]:
    """The server in each path's place: gateway, nginx, product, the trivial handler."""
    cells = {mode: path_cpu(closed, mode, conns) for mode in modes_of(closed)}
    cells = {mode: found for mode, found in cells.items() if len(found) > 1}
    if not cells:
        return []
    paths = [p or "gateway" for p, _ in PATH_COMPONENTS]
    paths = [p for p in dict.fromkeys(paths) if any(p in found for found in cells.values())]
    what = {p or "gateway": component for p, component in PATH_COMPONENTS}
    lines = [
        "µs of CPU per request of the one process tree doing each path's job (the gateway on "
        "the main path, nginx in its place, the product service straight, the trivial aiohttp "
        "handler of the calibration path):\n",
        "| path | process | " + " | ".join(cells) + " |",
        "|---|---|" + "---:|" * len(cells),
    ]
    for path in paths:
        values = " | ".join(f"{cells[m][path]:.1f}" if path in cells[m] else "–" for m in cells)
        lines.append(f"| {path} | {what[path]} | {values} |")
    return lines


def cpu_delta(a: Summary, b: Summary) -> str:
    """The components whose CPU per request grew most from `b` to `a` (e.g. netns vs local)."""
    if not (a.cpu_us and b.cpu_us):
        return ""
    grew = sorted(
        (
            (a.cpu_us.get(c, 0.0) - b.cpu_us.get(c, 0.0), c)
            for c in components(a.cpu_us)
            if c != "total"
        ),
        reverse=True,
    )
    parts = [f"{name} {delta:+.0f} µs" for delta, name in grew[:3] if delta > 0.5]
    total = a.cpu_us.get("total", 0.0) - b.cpu_us.get("total", 0.0)
    return f" CPU per request {total:+.0f} µs ({', '.join(parts)})." if parts else ""
