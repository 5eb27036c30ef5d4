"""Starting a process inside an instance's namespace (and cgroups).

`enter_instance` returns the callable `shopnet.runtime.process.spawn(...,
enter=...)` runs in the child between fork and exec, so the service — and
every worker it forks — starts inside; nothing runs outside first.
"""

from __future__ import annotations

from collections.abc import Callable

from shopnet_netns import cgroups, namespaces
from shopnet_netns.namespaces import pids_in

__all__ = ["enter_instance", "pids_in"]


def enter_instance(namespace: str, limits: cgroups.Limits | None = None) -> Callable[[], None]:
    """A child-side callable: join the instance's cgroups (if any), then its namespace."""
    join = namespaces.enter(namespace)  # raises now, in the parent, if it does not exist

    def enter() -> None:
        if limits is not None:
            # Problems were reported when the limits were applied; a child cannot report.
            cgroups.place(limits)
        join()

    return enter
