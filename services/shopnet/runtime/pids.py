"""How many tasks (processes and threads) one instance may have: the fork-bomb ceiling.

The same numbers in every mode: cgroup `pids.max` (netns; local when started as root),
compose's `pids_limit` (docker) and the stack file's `deploy.resources.limits.pids` (swarm).
Kubernetes has no per-pod field for it — only the kubelet's `podPidsLimit`, one value for
the whole node — so the rendered manifests carry none (see docs/security.md).

PostgreSQL forks a backend per connection (max_connections is 200) beside a dozen helpers;
our services and Redis run a handful of threads each.
"""

from __future__ import annotations

from shopnet.topology.model import Engine, Service

APP = 128
"""Our aiohttp services: the event loop, the default executor's threads, nothing forked."""
DATASTORE = 512
"""Redis; PostgreSQL's 200 backends plus its background processes, with room to spare."""


def limit(service: Service) -> int:
    """The pids limit of each instance of `service`."""
    return DATASTORE if service.engine() in (Engine.POSTGRES, Engine.REDIS) else APP
