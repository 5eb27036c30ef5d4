"""Least privilege for every container, datastores included (issue 9).

Non-root users (the images' own: our services' 10001, `postgres`, `redis` — named
so that the official images, whose entrypoints start as root only to chown and
step down, run unprivileged from the start too), no capabilities at all, no way
to gain privileges (`no-new-privileges`), and a read-only root file system with
tmpfs where a process must write: /tmp (PostgreSQL's Unix socket included).
PostgreSQL's data volume stays writable (volumes are not part of the root fs).
"""

from __future__ import annotations

from typing import Any

from shopnet.topology.model import Kind, Service

DATASTORE_USERS = {"postgres": "postgres", "redis": "redis"}
WRITABLE = {"postgres": ["/tmp"], "redis": ["/tmp"]}
"""A tmpfs takes the mode of the image's directory (and ignores `mode=`): /tmp is 1777;
PostgreSQL's socket directory would be root's, so its socket moves to /tmp (see compose)."""


def harden(service: Service, spec: dict[str, Any]) -> dict[str, Any]:
    """`spec` (a compose service) with the least-privilege keys set."""
    if service.kind is Kind.DATASTORE and service.name in DATASTORE_USERS:
        spec["user"] = DATASTORE_USERS[service.name]
        spec["tmpfs"] = WRITABLE[service.name]
    spec["read_only"] = True
    spec.setdefault("tmpfs", ["/tmp"])
    spec["cap_drop"] = ["ALL"]
    spec["security_opt"] = ["no-new-privileges:true"]
    return spec
