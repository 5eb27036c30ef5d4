"""How instances find their dependencies: environment variables derived from the model.

A service gets `SERVICE_REGISTRY` if it may call the registry, and for each
datastore it uses (`Service.uses`) the variable of that datastore's engine:
`DATABASE_URL` for PostgreSQL, `REDIS_URL` (with its database number) for Redis,
and `SHOPNET_ADMIN_PORT` when it has an admin listener; the registry gets the
subnets each service may register from (`registry_environment`, where instances
have tier addresses). Each runtime supplies `endpoint(service) -> "host:port"`: IP
addresses in netns mode, DNS names in compose, loopback ports in local mode.
"""

from __future__ import annotations

from collections.abc import Callable

from shopnet.topology.model import Engine, Kind, Service, StoreUse, Topology, Wiring

DB_NAME = "shopnet"
DB_USER = "shopnet"


def database_url(endpoint: str, password: str, database: str = DB_NAME) -> str:
    return f"postgresql://{DB_USER}:{password}@{endpoint}/{database}"


def _postgres(use: StoreUse, endpoint: str, password: str) -> dict[str, str]:
    return {"DATABASE_URL": database_url(endpoint, password)}


def _redis(use: StoreUse, endpoint: str, password: str) -> dict[str, str]:
    return {"REDIS_URL": f"redis://{endpoint}/{use.db}"}


STORE_ENVIRONMENT: dict[Engine, Callable[[StoreUse, str, str], dict[str, str]]] = {
    Engine.POSTGRES: _postgres,
    Engine.REDIS: _redis,
}
"""Engine → the variables a service using such a datastore gets."""


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
    if any(f.source == service.name and f.target == "registry" for f in topology.flows):
        env["SERVICE_REGISTRY"] = f"http://{endpoint('registry')}"
    for use in service.uses:
        engine = topology.service(use.datastore).engine()
        assert engine is not None  # load.validate: a use names a datastore
        env.update(STORE_ENVIRONMENT[engine](use, endpoint(use.datastore), db_password))
    if service.admin_port:
        env["SHOPNET_ADMIN_PORT"] = str(service.admin_port)
    return env


def registry_environment(topology: Topology, wiring: Wiring | None = None) -> dict[str, str]:
    """SHOPNET_REGISTRY_ALLOWED_SUBNETS: `service=cidr,…;…` for every app that registers
    (the format shopnet.registry.admission parses). Not for local mode: there every
    instance is 127.0.0.1, the registry's default."""
    allowed = [
        f"{s.name}={','.join(str(n) for n in topology.registration_subnets(s.name, wiring))}"
        for s in topology.services
        if s.kind is Kind.APP and s.name != "registry"
    ]
    return {"SHOPNET_REGISTRY_ALLOWED_SUBNETS": ";".join(allowed)}
