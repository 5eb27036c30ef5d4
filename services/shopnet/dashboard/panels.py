"""The side panels: isolation matrix, audit results, latest bench and chaos charts."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shopnet.audit import audit as audit_instances
from shopnet.audit import format_table
from shopnet.errors import ShopnetError
from shopnet.runtime.base import Driver
from shopnet.runtime.capabilities import IsolationProbe, no_isolation

CHART_KINDS = ("bench", "chaos")


@dataclass(frozen=True, slots=True)
class ChartDirs:
    """Where `shopnet bench` and a chaos run leave their timestamped result directories."""

    bench: Path
    chaos: Path

    def get(self, kind: str) -> Path:
        return self.bench if kind == "bench" else self.chaos


def latest_charts(root: Path) -> tuple[Path | None, list[str]]:
    """The newest result directory under `root` that holds PNG charts, and their names."""
    if not root.is_dir():
        return None, []
    runs = sorted((d for d in root.iterdir() if d.is_dir()), key=lambda d: d.name, reverse=True)
    for run in runs:
        charts = sorted(p.name for p in run.glob("*.png"))
        if charts:
            return run, charts
    return None, []


def charts(dirs: ChartDirs) -> dict[str, Any]:
    found = {}
    for kind in CHART_KINDS:
        run, names = latest_charts(dirs.get(kind))
        found[kind] = {
            "run": run.name if run else None,
            "where": str(dirs.get(kind)),
            "charts": [f"/charts/{kind}/{name}" for name in names],
        }
    return found


def chart_file(dirs: ChartDirs, kind: str, name: str) -> Path | None:
    """The chart file behind a /charts URL (only a PNG of the latest run, no other path)."""
    if kind not in CHART_KINDS:
        return None
    run, names = latest_charts(dirs.get(kind))
    return run / name if run is not None and name in names else None


def isolation(driver: Driver) -> dict[str, Any]:
    """Probe the running stack (`shopnet isolation`); its refused probes show as denied marks."""
    if not isinstance(driver, IsolationProbe):
        return {"available": False, "text": str(no_isolation(driver.mode))}
    try:
        text, ok = driver.isolation()
    except ShopnetError as exc:
        return {"available": False, "text": str(exc)}
    return {"available": True, "text": text, "ok": ok}


def audit(driver: Driver) -> dict[str, Any]:
    """`shopnet audit`'s table; `ok` when no instance failed a check."""
    try:
        audits = audit_instances(driver)
    except ShopnetError as exc:
        return {"available": False, "text": str(exc)}
    return {
        "available": True,
        "text": format_table(audits),
        "ok": not any(a.failed for a in audits),
    }


_NAME = re.compile(r"^[a-z][a-z0-9-]{0,40}$")


def trace(driver: Driver, source: str, target: str, port: int | None) -> dict[str, Any]:
    """`shopnet trace SOURCE TARGET [PORT]` on the running stack, as text."""
    from shopnet.trace import render
    from shopnet.trace.run import run_trace

    if not (_NAME.match(source) and _NAME.match(target)) or not (port is None or 0 < port < 65536):
        return {"available": False, "text": "trace: expected two instance names and a port"}
    try:
        walk = run_trace(driver, source, target, port)
    except ShopnetError as exc:
        return {"available": False, "text": str(exc)}
    return {"available": True, "text": render.text(walk), "verdict": walk.verdict}
