"""The report's headline: what each wiring carries at p99 ≤ the target (bench.capacity)."""

from __future__ import annotations

from typing import Any

from shopnet.bench.stats import median_interval


def _cells(meta: dict[str, Any]) -> dict[tuple[str, str, str], list[float]]:
    found: dict[tuple[str, str, str], list[float]] = {}
    for cell in meta.get("capacity", []):
        key = (cell["mode"], cell["path"], cell["workload"])
        found.setdefault(key, []).append(float(cell["rate"]))
    return found


def lines(meta: dict[str, Any], modes: list[str]) -> list[str]:
    cells = _cells(meta)
    if not cells:
        return []
    target = next(iter(meta["capacity"]))["target_ms"]
    paths = list(dict.fromkeys((path, mode) for mode, path, _ in cells))
    out = [
        f"## What each wiring carries at p99 ≤ {target:g} ms\n",
        "The highest paced (open-loop) rate with the corrected p99 within the target, no "
        "failed request (stock refusals excepted) and the pace kept: a bisection under each "
        "repeat's closed-loop peak. Medians over repeats, 95 % intervals in brackets. "
        "Closed-loop peaks follow as the secondary table.\n",
        "| mode | path | cache hit req/s at p99 target | orders req/s at p99 target |",
        "|---|---|---:|---:|",
    ]
    order = {m: i for i, m in enumerate(modes)}
    for path, mode in sorted(paths, key=lambda pm: (order.get(pm[1], 99), pm[0] != "gateway")):
        row = [mode, path]
        for workload in ("product_hit", "order_create"):
            rates = cells.get((mode, path, workload))
            row.append(median_interval(rates).text("{:,.0f}", "") if rates else "–")
        out.append("| " + " | ".join(row) + " |")
    out.append("")
    return out
