"""What a mode tells `shopnet trace` about one probe's way (mode-neutral data)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

HOST = "host"
"""FROM: the host itself (it administers every instance: any port)."""
OUTSIDE = "outside"
"""FROM: a client of the host's published port (the host's own address, not loopback)."""


@dataclass(frozen=True, slots=True)
class Place:
    """A network namespace the probe may cross."""

    label: str
    """What a reader calls it: `host`, `gateway-1`, `host2`."""
    netns: str | None
    """Path of its namespace file (/run/netns/…, /proc/PID/ns/net); None: the host's own."""
    interfaces: dict[str, str] = field(default_factory=dict)
    """Interface name → what it is, e.g. `sn-product-1` → `product-1's veth (host end), port
    of br-backend`."""


@dataclass(frozen=True, slots=True)
class TraceRoute:
    """Everything a trace needs to know about one probe before it is sent."""

    source: str
    """An instance, HOST or OUTSIDE."""
    target: str
    """An instance."""
    port: int
    """The target's port the flow is about (the service port unless given)."""
    source_place: Place
    """Where the probe's socket lives."""
    source_address: str
    """The address the probe's socket binds (the flow's tracing rules match it)."""
    connect: tuple[str, int]
    """Where the probe connects (the published port for OUTSIDE: DNAT to the target)."""
    places: tuple[Place, ...]
    """Every namespace the probe may cross, in the request's order; each gets a table."""
    allowed: bool
    """Whether the topology allows the flow."""
    topology_word: str
    """`allowed: gateway → product:3001` or `not allowed: gateway may not reach postgres`."""
    notes: tuple[str, ...] = ()
    """Hops no netfilter hook shows, from the plan: VXLAN encapsulation, bridges."""
    mode: str = ""
    """`netns stack, wiring routed …`: what the walk is of."""


@runtime_checkable
class Traceable(Protocol):
    """A driver whose stack `shopnet trace` can follow a packet through."""

    def trace_route(self, source: str, target: str, port: int | None) -> TraceRoute: ...

    def trace_prefix(self) -> str:
        """The prefix of our trace tables and tracefs instance (the topology's)."""
        ...

    def trace_places(self) -> list[Place]:
        """Every namespace of the stack (where a killed trace may have left a table)."""
        ...
