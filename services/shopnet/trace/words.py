"""The topology's word on a traced flow: the allowed-flows line, or why it is not allowed."""

from __future__ import annotations

from shopnet.errors import ConfigError
from shopnet.topology.model import WORLD, Topology
from shopnet.trace.route import HOST, OUTSIDE


def verdict(
    topology: Topology, source_service: str, target_service: str, port: int
) -> tuple[bool, str]:
    """(allowed, `allowed: gateway → product:3001` / `not allowed: gateway may not reach postgres`).

    `source_service` is a service, HOST or OUTSIDE."""
    if source_service == HOST:
        return True, f"allowed: the host administers every instance (any port of {target_service})"
    source = WORLD if source_service == OUTSIDE else source_service
    shown = "anyone outside (world)" if source == WORLD else source
    if topology.allows(source, target_service, port):
        return True, f"allowed: {shown} → {target_service}:{port}"
    ports = sorted(
        f.port for f in topology.flows if f.source == source and f.target == target_service
    )
    if ports:
        listed = ", ".join(map(str, ports))
        return False, f"not allowed: {shown} may reach {target_service} only on port {listed}"
    return False, f"not allowed: {shown} may not reach {target_service}"


def world_facing(topology: Topology) -> tuple[str, int]:
    """The service and port the published port leads to."""
    for flow in topology.flows:
        if flow.source == WORLD:
            return flow.target, flow.port
    raise ConfigError("the topology publishes no service: nothing is reachable from outside")


def check_outside_target(topology: Topology, target_service: str) -> None:
    service, _ = world_facing(topology)
    if target_service != service:
        raise ConfigError(
            f"from outside only the published port is reachable, and it leads to {service}: "
            f"trace `outside {service}-1`, then `{service}-1 {target_service}-1`"
        )
