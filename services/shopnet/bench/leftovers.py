"""What a killed `shopnet bench` left behind, found through the state directory it owned.

A bench runs its stacks under its own prefix (`snb`) in a temporary state directory
(`shopnet-bench-*` in the temp directory, holding the stacks' secrets) and removes both
when it ends, ^C included. Killed outright (kill -9, a lost session) it leaves them: a
netns stack that no `shopnet down` would look for, since it is neither under the
person's state directory nor their prefix. The directory names its owner (pid and start
time, so a reused pid is not mistaken for it); `shopnet down` and the next bench remove
the stacks of every such directory whose owner is gone, then the directory. A running
bench's are never touched.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from shopnet.errors import ShopnetError
from shopnet.runtime.base import DRIVERS, MissingExtra, make_driver
from shopnet.runtime.progress import Progress
from shopnet.topology.model import Topology

PREFIX = "snb"
"""The bench's stacks' prefix: never a person's."""

ROOT_PREFIX = "shopnet-bench-"
OWNER = "owner"


def own_root(parent: Path | None = None) -> Path:
    """A new state directory for this bench, naming this process as its owner."""
    root = Path(tempfile.mkdtemp(prefix=ROOT_PREFIX, dir=parent))
    root.chmod(0o755)  # the datastores run as their own users
    (root / OWNER).write_text(_identity(os.getpid()) or "")
    return root


def killed_roots(parent: Path | None = None) -> Iterator[Path]:
    """This user's benches' state directories whose bench is no longer running."""
    base = parent or Path(tempfile.gettempdir())
    for root in sorted(base.glob(ROOT_PREFIX + "*")):
        if root.is_dir() and root.stat().st_uid == os.geteuid() and not _running(root):
            yield root


def remove(topology: Topology, progress: Progress, parent: Path | None = None) -> list[str]:
    """Down every killed bench's stacks (with their volumes) and delete its directory."""
    removed: list[str] = []
    bench_topology = dataclasses.replace(topology, prefix=PREFIX)
    for root in killed_roots(parent):
        for mode in DRIVERS:
            try:
                driver = make_driver(mode, topology=bench_topology, root=root, progress=progress)
            except MissingExtra:
                continue
            if driver.present():
                result = driver.down(volumes=True)
                if result.problems:
                    raise ShopnetError(
                        f"a killed bench's {mode} stack ({root}): " + "; ".join(result.problems)
                    )
                removed.append(f"a killed bench's {mode} stack")
        shutil.rmtree(root, ignore_errors=True)
        removed.append(f"its state directory {root}")
    return removed


def _running(root: Path) -> bool:
    try:
        owner = (root / OWNER).read_text()
        pid = int(owner.split()[0])
    except (OSError, ValueError, IndexError):
        return False  # killed before it wrote its owner, or not a bench's
    return _identity(pid) == owner


def _identity(pid: int) -> str | None:
    """`pid starttime`: the start time (clock ticks after boot) tells a reused pid apart."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # Field 22, counted after the command name's closing parenthesis (it may hold spaces).
    return f"{pid} {stat.rpartition(')')[2].split()[19]}"
