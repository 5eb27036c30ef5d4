"""Names, labels and the small helpers every manifest uses.

Kubernetes names must be DNS-1123 labels, and every object carries the
recommended `app.kubernetes.io/*` labels: `name` (the topology's service) is what
Services, workloads and NetworkPolicies select on, so one label decides which pods
a flow rule means.
"""

from __future__ import annotations

import re
from typing import Any

from shopnet.errors import ConfigError
from shopnet.topology.model import Service, Topology

NAME = "app.kubernetes.io/name"
"""The topology's service: the one label selectors use."""
COMPONENT = "app.kubernetes.io/component"
"""The service's tier (frontend, backend, database)."""
PART_OF = "app.kubernetes.io/part-of"
"""The topology's prefix (`shopnet`)."""
MANAGED_BY = "app.kubernetes.io/managed-by"


_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")


def dns_label(value: str, *, what: str) -> str:
    """`value` if Kubernetes accepts it as a name (RFC 1123 label), else a one-line error."""
    if not _DNS_LABEL.match(value):
        raise ConfigError(
            f"{what} {value!r} is not a Kubernetes name: lowercase letters, digits and '-', "
            "starting and ending with a letter or digit, at most 63 characters"
        )
    return value


def secret_name(topology: Topology, service: Service) -> str:
    """The Secret holding `service`'s files (shopnet_docker.secretfiles.of_service)."""
    return f"{topology.prefix}-{service.name}"


def selector(service: Service) -> dict[str, str]:
    """The labels that pick exactly the pods of `service`."""
    return {NAME: service.name}


def labels(topology: Topology, service: Service | None = None) -> dict[str, str]:
    found: dict[str, str] = {}
    if service is not None:
        found[NAME] = service.name
        found[COMPONENT] = service.tier
    found[PART_OF] = topology.prefix
    found[MANAGED_BY] = "shopnet"
    return found


def metadata(name: str, namespace: str, labels: dict[str, str], **extra: Any) -> dict[str, Any]:
    return {"name": name, "namespace": namespace, "labels": labels, **extra}
