"""The netns mode's cgroups: `shopnet.runtime.cgroups` under the topology prefix.

Each instance gets `<controller root>/<prefix>/<instance>` (cpu, memory, pids).
"""

from __future__ import annotations

from pathlib import Path

from shopnet.runtime import cgroups as generic
from shopnet.runtime.cgroups import MOUNTINFO, Controller, Limits, controllers, place
from shopnet.topology.model import Service
from shopnet_netns.names import Names

__all__ = ["Controller", "Limits", "apply", "controllers", "find", "oom_kills", "place", "remove"]


def apply(names: Names, instance: str, service: Service, *, mountinfo: Path = MOUNTINFO) -> Limits:
    """Create the instance's cgroups and set its limits (idempotent)."""
    return generic.apply(names.cgroup, instance, service, mountinfo=mountinfo)


def find(names: Names) -> list[str]:
    """Our cgroups (parents and instances), as paths."""
    return generic.find(names.cgroup)


def remove(names: Names) -> tuple[list[str], list[str]]:
    """Stop what still runs in our cgroups, then remove them; (removed, problems)."""
    return generic.remove(names.cgroup)


def oom_kills(names: Names, instance: str, *, mountinfo: Path = MOUNTINFO) -> int | None:
    """How many processes the kernel's OOM killer has ended in the instance's memory cgroup."""
    return generic.oom_kills(names.cgroup, instance, mountinfo=mountinfo)
