"""How instances find their dependencies: environment variables derived from the flows.

A service gets `SERVICE_REGISTRY` if it may call the registry, `DATABASE_URL` if
it may call postgres, `REDIS_URL` if it may call redis, `SHOPNET_ADMIN_PORT` when
it has an admin listener; the registry gets the subnets each service may register
from (`registry_environment`, where instances have tier addresses). Each runtime supplies
`endpoint(service) -> "host:port"`: IP addresses in netns mode, DNS names in
compose, loopback ports in local mode.
"""

from __future__ import annotations

from collections.abc import Callable

from shopnet.topology.model import Kind, Service, Topology

DB_NAME = "shopnet"
DB_USER = "shopnet"


def database_url(endpoint: str, password: str, database: str = DB_NAME) -> str:
    return f"postgresql://{DB_USER}:{password}@{endpoint}/{database}"


def service_environment(
    topology: Topology,
    service: Service,
    *,
    endpoint: Callable[[str], str],
    db_password: str,
) -> dict[str, str]:
    """Environment for an app service instance (datastores are configured by their drivers)."""
    if service.kind is not Kind.APP:
        return {}
    env: dict[str, str] = {}
    targets = {f.target for f in topology.flows if f.source == service.name}
    if "registry" in targets:
        env["SERVICE_REGISTRY"] = f"http://{endpoint('registry')}"
    if "postgres" in targets:
        env["DATABASE_URL"] = database_url(endpoint("postgres"), db_password)
    if "redis" in targets:
        env["REDIS_URL"] = f"redis://{endpoint('redis')}/0"
    if service.admin_port:
        env["SHOPNET_ADMIN_PORT"] = str(service.admin_port)
    return env


def registry_environment(topology: Topology) -> dict[str, str]:
    """SHOPNET_REGISTRY_ALLOWED_SUBNETS: `service=cidr,…;…` for every app that registers
    (the format shopnet.registry.admission parses). Not for local mode: there every
    instance is 127.0.0.1, the registry's default."""
    allowed = [
        f"{s.name}={','.join(str(n) for n in topology.registration_subnets(s.name))}"
        for s in topology.services
        if s.kind is Kind.APP and s.name != "registry"
    ]
    return {"SHOPNET_REGISTRY_ALLOWED_SUBNETS": ";".join(allowed)}
