"""The side panels: isolation matrix, audit results, latest bench and chaos charts."""

from __future__ import annotations

import importlib
import importlib.util
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shopnet.errors import ShopnetError
from shopnet.runtime.base import Driver

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
    try:
        text, ok = driver.isolation()
    except ShopnetError as exc:
        return {"available": False, "text": str(exc)}
    return {"available": True, "text": text, "ok": ok}


def audit(driver: Driver) -> dict[str, Any]:
    """`shopnet audit`'s findings, when this version has that command.

    The expected shape is `shopnet.audit.run(driver) -> (text, ok)`, as isolation's.
    """
    if importlib.util.find_spec("shopnet.audit") is None:
        return {"available": False, "text": "not available: this version has no `shopnet audit`"}
    module = importlib.import_module("shopnet.audit")
    run = getattr(module, "run", None)
    if run is None:
        return {"available": False, "text": "not available: shopnet.audit has no run(driver)"}
    try:
        text, ok = run(driver)
    except ShopnetError as exc:
        return {"available": False, "text": str(exc)}
    return {"available": True, "text": text, "ok": ok}


_NAME = re.compile(r"^[a-z][a-z0-9-]{0,40}$")


def trace(driver: Driver, source: str, target: str, port: int | None) -> dict[str, Any]:
    """`shopnet trace SOURCE TARGET [PORT]` on the running stack, as text."""
    from shopnet.trace import render
    from shopnet.trace.command import run_trace

    if not (_NAME.match(source) and _NAME.match(target)) or not (port is None or 0 < port < 65536):
        return {"available": False, "text": "trace: expected two instance names and a port"}
    try:
        walk = run_trace(driver, source, target, port)
    except ShopnetError as exc:
        return {"available": False, "text": str(exc)}
    return {"available": True, "text": render.text(walk), "verdict": walk.verdict}
