"""How long each mode takes to come up and to go away, as the bench met it every repeat.

Recorded in results.meta["lifecycle"][mode] as one {"repeat", "up_s", "down_s"} per
repeat: `up` is from the command until every instance is ready and registered (the
data set seeded), `down --volumes` until nothing of the stack is left.
"""

from __future__ import annotations

import statistics
from typing import Any

from shopnet.bench.results import Results

TITLE = "Start-up and teardown"


def record(results: Results, mode: str, repeat: int, *, up_s: float, down_s: float) -> None:
    runs = results.meta.setdefault("lifecycle", {}).setdefault(mode, [])
    runs.append({"repeat": repeat, "up_s": round(up_s, 2), "down_s": round(down_s, 2)})
    results.save()


def rows(meta: dict[str, Any]) -> list[str]:
    """The report's section (empty for results that predate it)."""
    lifecycle = meta.get("lifecycle") or {}
    if not lifecycle:
        return []
    interval = meta.get("docker_health_interval")
    out = [
        f"## {TITLE}\n",
        "Seconds, median over repeats (min–max): `up` until every instance is ready and "
        "registered, `down --volumes` until nothing is left."
        + (f" Docker's health interval: {interval}." if interval else "")
        + "\n",
        "| mode | up s | down s | repeats |",
        "|---|---:|---:|---:|",
    ]
    for mode, runs in lifecycle.items():
        out.append(f"| {mode} | {_cell(runs, 'up_s')} | {_cell(runs, 'down_s')} | {len(runs)} |")
    out.append("")
    return out


def _cell(runs: list[dict[str, float]], key: str) -> str:
    values = [r[key] for r in runs if key in r]
    if not values:
        return "–"
    median = f"{statistics.median(values):.1f}"
    return median if len(values) == 1 else f"{median} ({min(values):.1f}–{max(values):.1f})"
