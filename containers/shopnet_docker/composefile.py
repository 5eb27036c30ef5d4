"""The checked-in containers/compose.yaml: (re)write it, or check it is the topology's render.

Both `shopnet compose` and `python -m shopnet_docker compose` call these.
"""

from __future__ import annotations

from shopnet.runtime.variant import Variant
from shopnet.topology.model import Topology
from shopnet_docker.compose import render
from shopnet_docker.images import CONTAINERS

COMPOSE_FILE = CONTAINERS / "compose.yaml"


def write_file(topology: Topology) -> str:
    COMPOSE_FILE.write_text(render(topology))
    return f"wrote {COMPOSE_FILE}"


def check_file(topology: Topology) -> str | None:
    """None when the file is up to date, else what to run."""
    if COMPOSE_FILE.exists() and COMPOSE_FILE.read_text() == render(topology):
        return None
    return f"{COMPOSE_FILE} is out of date: python -m shopnet_docker compose --write"


def command(
    topology: Topology, *, write: bool, check: bool, variant: Variant | None = None
) -> tuple[str, int]:
    """What `compose [--write | --check]` prints, and its exit status (1: stale)."""
    if write:
        return write_file(topology) + "\n", 0
    if check:
        stale = check_file(topology)
        return (stale + "\n", 1) if stale else ("", 0)
    if variant is not None:
        return render(topology, wiring=variant.wiring, discovery=variant.discovery), 0
    return render(topology), 0
