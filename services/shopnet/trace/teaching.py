"""docs/packet-walk.md: one mode's allowed and denied walks, traced on its running stack."""

from __future__ import annotations

from pathlib import Path

from shopnet.runtime.base import Driver
from shopnet.trace import render
from shopnet.trace.route import OUTSIDE
from shopnet.trace.run import run_trace
from shopnet.trace.words import world_facing

DENIED_TARGET = "postgres"
NEXT_HOP = "product"


def write(path: Path, driver: Driver) -> None:
    gateway, _ = world_facing(driver.topology)
    entry = f"{gateway}-1"
    allowed = [
        run_trace(driver, OUTSIDE, entry, None),
        run_trace(driver, entry, f"{NEXT_HOP}-1", None),
    ]
    # Not allowed by the topology; where the mode connects it anyway (Docker on one shared
    # network), the walk shows exactly that.
    denied = run_trace(driver, entry, f"{DENIED_TARGET}-1", None)
    title = driver.describe_variant()
    existing = path.read_text() if path.exists() else ""
    path.write_text(render.merge(existing, title, render.section(title, allowed, denied)))
