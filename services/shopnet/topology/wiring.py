"""How instances find their dependencies: environment variables derived from the model.

A service gets `SERVICE_REGISTRY` if it may call the registry, and for each
datastore it uses (`Service.uses`) the variable of that datastore's engine:
`DATABASE_URL` for PostgreSQL, `REDIS_URL` (with its database number) for Redis.
Each runtime supplies `endpoint(service) -> "host:port"`: IP addresses in netns
mode, DNS names in compose, loopback ports in local mode.
"""

from __future__ import annotations

from collections.abc import Callable

from shopnet.topology.model import Engine, Kind, Service, StoreUse, Topology

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
    return env
