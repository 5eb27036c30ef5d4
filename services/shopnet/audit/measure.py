"""Audit each mode in turn (up, audit, down): the "Isolation, measured" tables.

For the bench report and docs/comparison.md: `isolation_section(audits)` renders
what `measure()` returns, or what a bench run stored with `InstanceAudit.as_dict()`.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from shopnet.audit.collect import InstanceAudit, audit
from shopnet.audit.render import side_by_side
from shopnet.runtime.base import make_driver
from shopnet.runtime.progress import Progress
from shopnet.topology.model import Topology


def measure(
    modes: Iterable[str], *, topology: Topology, root: Path, progress: Progress
) -> dict[str, list[InstanceAudit]]:
    """Bring each mode up, audit every instance, take it down again."""
    found: dict[str, list[InstanceAudit]] = {}
    for mode in modes:
        driver = make_driver(mode, topology=topology, root=root, progress=progress)
        try:
            driver.up(scale={})
            found[mode] = audit(driver)
        finally:
            driver.down(volumes=True)
    return found


def isolation_section(audits: dict[str, list[InstanceAudit]]) -> str:
    """The Markdown section, modes side by side."""
    return side_by_side(audits)
