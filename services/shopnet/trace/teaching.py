"""docs/packet-walk.md: one mode's allowed and denied walks, traced on its running stack."""

from __future__ import annotations

from pathlib import Path

from shopnet.errors import ConfigError
from shopnet.runtime.base import Driver
from shopnet.trace import render
from shopnet.trace.command import run_trace
from shopnet.trace.route import OUTSIDE
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
    denied = run_trace(driver, entry, f"{DENIED_TARGET}-1", None)
    if denied.allowed:
        raise ConfigError(
            f"{entry} → {DENIED_TARGET}-1 is allowed in this topology: no denied walk"
        )
    title = driver.describe_variant()
    existing = path.read_text() if path.exists() else ""
    path.write_text(render.merge(existing, title, render.section(title, allowed, denied)))
