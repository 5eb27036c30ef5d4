"""`shopnet bench --ladder`: the network primitives alone, one hop at a time, no application.

rows (what each row builds), plumbing (namespaces, links, rules, containers; teardown by
the `ladder` tag), probes (sockperf and iperf3 in each namespace), run (interleaved
repeats), report (ladder.md and its chart).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def write_outputs(data: dict[str, Any], directory: Path) -> Path:
    from shopnet.bench.ladder import report

    report.draw(data, directory / "charts" / "ladder.png")
    path = directory / "ladder.md"
    path.write_text(report.render(data))
    return path
