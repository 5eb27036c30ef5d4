"""What the trace tests check on any stack: nothing of a trace is left behind."""

from __future__ import annotations

import subprocess

from shopnet.trace import drops, nfttrace
from shopnet.trace.nsenter import argv_in
from shopnet.trace.route import Place


def trace_leftovers(prefix: str, places: list[Place]) -> list[str]:
    """Trace tables in any of `places`, our tracefs instance or mount, a monitor of ours."""
    found = []
    for place in places:
        out = subprocess.run(argv_in(place.netns, ["nft", "list", "tables"]),
                             capture_output=True, text=True, check=False)  # fmt: skip
        if nfttrace.table_name(prefix) in out.stdout:
            found.append(f"trace table in {place.label}")
    for root in (drops.SYSTEM_TRACEFS, drops.own_mount(prefix)):
        if (root / "instances" / drops.instance_name(prefix)).exists():
            found.append(f"tracefs instance under {root}")
    if drops.own_mount(prefix).exists():
        found.append(f"{drops.own_mount(prefix)}")
    return found
