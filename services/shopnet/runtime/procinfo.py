"""CPU and memory of running processes (with their descendants), read from /proc."""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from pathlib import Path

_TICKS = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")


def _stat(pid: int) -> tuple[int, int, int] | None:
    """(ppid, utime+stime ticks, rss pages) of `pid`."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return int(fields[1]), int(fields[11]) + int(fields[12]), int(fields[21])


def _tree(root: int, parents: dict[int, int]) -> set[int]:
    members = {root}
    changed = True
    while changed:
        changed = False
        for pid, ppid in parents.items():
            if ppid in members and pid not in members:
                members.add(pid)
                changed = True
    return members


def usage(pids: Iterable[int], *, interval: float = 0.25) -> dict[int, tuple[float, float]]:
    """pid → (CPU %, resident MiB) of each process tree, CPU sampled over `interval`."""
    pids = list(pids)

    def snapshot() -> dict[int, tuple[int, int, int]]:
        stats = {}
        for entry in os.scandir("/proc"):
            if entry.name.isdigit() and (stat := _stat(int(entry.name))) is not None:
                stats[int(entry.name)] = stat
        return stats

    before = snapshot()
    time.sleep(interval)
    after = snapshot()
    parents = {pid: s[0] for pid, s in after.items()}
    result = {}
    for pid in pids:
        if pid not in after:
            continue
        tree = _tree(pid, parents)
        ticks = sum(after[p][1] - before.get(p, after[p])[1] for p in tree if p in after)
        rss = sum(after[p][2] for p in tree if p in after)
        result[pid] = (100.0 * ticks / _TICKS / interval, rss * _PAGE / 2**20)
    return result
