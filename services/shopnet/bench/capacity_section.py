"""The report's headline: what each wiring carries at p99 ≤ the target (bench.capacity)."""

from __future__ import annotations

from typing import Any

from shopnet.bench.stats import median_interval

Cell = tuple[str, str, str]
"""mode, path, workload"""


def _cells(meta: dict[str, Any]) -> dict[Cell, list[float]]:
    found: dict[Cell, list[float]] = {}
    for cell in meta.get("capacity", []):
        key = (cell["mode"], cell["path"], cell["workload"])
        found.setdefault(key, []).append(float(cell["rate"]))
    return found


def _floors(meta: dict[str, Any]) -> dict[Cell, list[tuple[float, float]]]:
    """Per cell, each repeat's lowest probe: (rate, p99 ms) — what a path that carries
    nothing within the target did at the gentlest rate tried."""
    found: dict[Cell, list[tuple[float, float]]] = {}
    for cell in meta.get("capacity", []):
        if probes := cell.get("probes"):
            lowest = min(probes, key=lambda p: p["rate"])
            key = (cell["mode"], cell["path"], cell["workload"])
            found.setdefault(key, []).append((float(lowest["rate"]), float(lowest["p99_ms"])))
    return found


def _text(rates: list[float], floors: list[tuple[float, float]]) -> str:
    if any(rates) or not floors:
        return median_interval(rates).text("{:,.0f}", "")
    # No repeat carried any rate: the target is below the path's own floor. Say how far.
    p99 = median_interval([p for _, p in floors]).text("{:.1f}", " ms")
    return f"none: p99 {p99} even at {min(r for r, _ in floors):,.0f} req/s"


def lines(meta: dict[str, Any], modes: list[str]) -> list[str]:
    cells, floors = _cells(meta), _floors(meta)
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
            row.append(_text(rates, floors.get((mode, path, workload), [])) if rates else "–")
        out.append("| " + " | ".join(row) + " |")
    out.append("")
    return out
