"""One spec per service: what `serve`, the gateway's routes and the credential issuers read.

A service is its package (config class, app factory, its domain) plus this spec and its
topology lines; nothing else lists services. Our four are `BUILTIN`; a topology may add
one whose spec lives elsewhere (`spec = "module:attr"`, with `code` the directory that
module is imported from: the only path the runtime adds to a service's PYTHONPATH and
sandbox). Datastore credentials are not here: they follow the topology's `uses`
(shopnet.runtime.datastore_auth).
"""

from __future__ import annotations

import importlib
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING

from shopnet.errors import ConfigError
from shopnet.gateway.routes import Route
from shopnet.topology.model import Kind, Service, Topology

if TYPE_CHECKING:
    from shopnet.common.config import ServiceConfig

SPEC_ENV = "SHOPNET_SERVICE_SPEC"
"""Set by the runtime for a service whose spec the topology names (`module:attr`)."""


@dataclass(frozen=True, slots=True)
class ServiceSpec:
    """What the stack needs to know of one service besides its place in the topology."""

    name: str
    """Its topology and registry name."""
    config: str
    """`module:Class` of its ServiceConfig (settings from the environment)."""
    app: str
    """Module with `create_app(cfg)`, and `run(cfg)` where it manages its own processes."""
    routes: tuple[Route, ...] = ()
    """The gateway's public prefixes to it (none: not reachable from outside)."""
    internal_callers: tuple[str, ...] = ()
    """Services that may call its internal API, each with a token of its own (it holds their
    digests, each of them its token: shopnet.common.internal)."""
    verifies_tokens: bool = False
    """Holds the stack's token signing key (shopnet.runtime.tokens)."""

    def config_class(self) -> type[ServiceConfig]:
        module, _, name = self.config.partition(":")
        config: type[ServiceConfig] = getattr(importlib.import_module(module), name)
        return config


BUILTIN: dict[str, ServiceSpec] = {
    spec.name: spec
    for spec in (
        ServiceSpec(
            "registry",
            "shopnet.registry.config:RegistryConfig",
            "shopnet.registry.app",
        ),
        ServiceSpec(
            "product",
            "shopnet.product.config:ProductConfig",
            "shopnet.product.app",
            routes=(Route("/api/products", "product", "/products", public_reads=True),),
            internal_callers=("order",),
        ),
        ServiceSpec(
            "order",
            "shopnet.order.config:OrderConfig",
            "shopnet.order.app",
            routes=(Route("/api/orders", "order", "/orders"),),
        ),
        ServiceSpec(
            "gateway",
            "shopnet.gateway.config:GatewayConfig",
            "shopnet.gateway.app",
            verifies_tokens=True,
        ),
    )
}


def load(target: str, *, code: str = "") -> ServiceSpec:
    """The ServiceSpec at `module:attr`, importing from `code` (a directory) if given."""
    if code and code not in sys.path:
        sys.path.append(code)
    module, _, attr = target.partition(":")
    try:
        spec = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"cannot load the service spec {target!r}: {exc}") from None
    if not isinstance(spec, ServiceSpec):
        raise ConfigError(f"{target} is not a ServiceSpec")
    return spec


def spec_of(service: Service) -> ServiceSpec:
    """`service`'s spec: the one its topology entry names, or ours of that name."""
    if service.spec:
        spec = load(service.spec, code=service.code)
        if spec.name != service.name:
            raise ConfigError(f"{service.spec} is the spec of {spec.name!r}, not {service.name!r}")
        return spec
    try:
        return BUILTIN[service.name]
    except KeyError:
        raise ConfigError(
            f'service {service.name!r} has no spec: name one (`spec = "module:attr"`)'
        ) from None


def for_serving(service: str, target: str) -> ServiceSpec:
    """What `serve SERVICE` runs: the spec the runtime named (SPEC_ENV), or ours."""
    if target:
        spec = load(target)
    elif service in BUILTIN:
        spec = BUILTIN[service]
    else:
        raise ConfigError(f"unknown service {service!r}; services: {', '.join(BUILTIN)}")
    if spec.name != service:
        raise ConfigError(f"{target} is the spec of {spec.name!r}, not {service!r}")
    return spec


def app_specs(topology: Topology) -> dict[str, ServiceSpec]:
    """Every app service of `topology` → its spec."""
    return {s.name: spec_of(s) for s in topology.services if s.kind is Kind.APP}


def internal_callers(topology: Topology) -> dict[str, tuple[str, ...]]:
    """Who serves an internal API → who may call it (those in `topology` only)."""
    names = {s.name for s in topology.services}
    return {
        name: tuple(c for c in spec.internal_callers if c in names)
        for name, spec in app_specs(topology).items()
        if spec.internal_callers
    }


def gateway_routes(topology: Topology, gateway: str = "gateway") -> tuple[Route, ...]:
    """The gateway's routing table: the routes of every service it may call."""
    specs = app_specs(topology)
    targets = [f.target for f in topology.flows if f.source == gateway and f.target in specs]
    return tuple(route for name in dict.fromkeys(targets) for route in specs[name].routes)


def launch_environment(service: Service) -> dict[str, str]:
    """What a process of `service` needs to find its code: its spec and the declared
    directory (nothing for ours)."""
    if not service.spec:
        return {}
    env = {SPEC_ENV: service.spec}
    if service.code:
        env["PYTHONPATH"] = service.code
    return env
