"""What can make a run's figures measure something else: a busy machine, a saturated wrk.

Before a bench starts it samples the machine for a second (/proc/loadavg and the busy
share of /proc/stat); the report warns when either says other work was running, and
when wrk's own CPU (from the profiled runs) is close to a whole core — then the figure
is wrk's ceiling, not the stack's.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from shopnet.bench.aggregate import Summary

BUSY_SHARE = 0.25
"""Busy share of all cores in the second before the run above which the report warns."""
LOADAVG_PER_CORE = 1.0
"""The 1-minute load average trails (a run just ended keeps it up for a minute), so it
only warns on its own when it says every core was taken."""
WRK_CORE_SHARE = 0.85
"""wrk using this much of one core per thread: the load generator is the bottleneck."""


def _busy_idle() -> tuple[int, int]:
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields[:8]) - idle, idle


def load_before(sample_s: float = 1.0) -> dict[str, Any]:
    """The machine's load just before a run: loadavg, and the busy share over sample_s."""
    busy0, idle0 = _busy_idle()
    time.sleep(sample_s)
    busy1, idle1 = _busy_idle()
    total = (busy1 - busy0) + (idle1 - idle0)
    one, five, _fifteen = (float(x) for x in Path("/proc/loadavg").read_text().split()[:3])
    return {
        "loadavg_1m": one,
        "loadavg_5m": five,
        "busy_share": round((busy1 - busy0) / total, 3) if total else 0.0,
        "cores": os.cpu_count() or 1,
    }


def busy_warning(load: dict[str, Any] | None) -> str | None:
    if not load:
        return None
    cores = int(load.get("cores", 1)) or 1
    busy = float(load.get("busy_share", 0.0))
    one = float(load.get("loadavg_1m", 0.0))
    if busy < BUSY_SHARE and one < LOADAVG_PER_CORE * cores:
        return None
    return (
        f"the machine was busy before the run (load average {one:.2f} on {cores} cores, "
        f"{busy:.0%} of CPU busy in the second before): other work shared the CPU, so "
        "every figure here is lower and noisier than on a quiet machine"
    )


def wrk_share(s: Summary) -> float | None:
    """wrk's CPU as a share of one core, from the run's profile (µs per request × req/s)."""
    wrk_us = s.cpu_us.get("wrk")
    if not wrk_us or not s.rps:
        return None
    return wrk_us * s.rps / 1e6


def wrk_warnings(summaries: list[Summary], threads: int = 1) -> list[str]:
    found = []
    for s in summaries:
        share = wrk_share(s)
        if share is not None and share >= WRK_CORE_SHARE * threads:
            found.append(
                f"wrk used {share:.0%} of a core on {s.mode} {s.path} ({s.rps:,.0f} req/s): the "
                "load generator is the bottleneck there, the figure is wrk's ceiling"
            )
    return found
