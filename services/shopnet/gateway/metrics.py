"""The gateway's own collectors, added to the app's registry next to the request metrics.

Every label value is known up front (services from the route table, a fixed set of
error kinds), so children are created once: the hot path touches no label lookup,
and dashboards see zeros instead of missing series.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge


class Failure(enum.StrEnum):
    """Why an upstream try failed (the `kind` label)."""

    CONNECT = "connect"
    """No connection: refused, unreachable or connect timeout. Nothing was sent."""
    TIMEOUT = "timeout"
    """Sent, but no complete answer within the try's time."""
    DISCONNECT = "disconnect"
    """Sent, then the connection broke (or the answer was not valid HTTP)."""
    STATUS_5XX = "status_5xx"
    """The instance answered with a 5xx status."""


class GatewayMetrics:
    """Upstream errors, retries, ejections and healthy instances, per service."""

    def __init__(self, registry: CollectorRegistry, services: Iterable[str]) -> None:
        errors = Counter(
            "shopnet_gateway_upstream_errors",
            "Failed upstream tries, by service and kind of failure.",
            ["service", "kind"],
            registry=registry,
        )
        retries = Counter(
            "shopnet_gateway_retries",
            "Upstream tries after the first one of a request, by service.",
            ["service"],
            registry=registry,
        )
        ejections = Counter(
            "shopnet_gateway_ejections",
            "Instances ejected by passive outlier detection, by service.",
            ["service"],
            registry=registry,
        )
        # With several workers each one balances on its own view; the gauge shows the
        # most recent report of a live worker.
        healthy = Gauge(
            "shopnet_gateway_healthy_instances",
            "Instances the balancer may use (passing in the registry, not ejected), by service.",
            ["service"],
            registry=registry,
            multiprocess_mode="livemostrecent",
        )
        self.errors = {
            service: {kind: errors.labels(service, kind.value) for kind in Failure}
            for service in services
        }
        self.retries = {service: retries.labels(service) for service in self.errors}
        self.ejections = {service: ejections.labels(service) for service in self.errors}
        self.healthy = {service: healthy.labels(service) for service in self.errors}
