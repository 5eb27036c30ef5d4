"""The modes a stack runs in, each declared once: its driver, wirings, discoveries and hosts.

The topology checks its `[wirings]` against this table, the variant (`--wiring`,
`--discovery`, `--hosts`) is resolved from it, and the driver registry imports a
mode's driver from it on first use. What a running driver can do beyond the life
cycle is not declared here but by the capability protocols it implements
(shopnet.runtime.capabilities).
"""

from __future__ import annotations

from dataclasses import dataclass

from shopnet.topology.model import Discovery, Wiring

MAX_HOSTS = 8
"""Host k takes address k on every tier (`.1` … `.8`): below every instance address."""


@dataclass(frozen=True, slots=True)
class Mode:
    name: str
    driver: str
    """`module:Class`, imported on first use (a mode's dependencies stay optional)."""
    wirings: tuple[Wiring, ...] = ()
    """The wirings its driver can build, the first the default; none: nothing to choose."""
    discoveries: tuple[Discovery, ...] = (Discovery.REGISTRY,)
    """How its gateway may discover instances (`--discovery`)."""
    max_hosts: int = 1
    """Simulated hosts it can spread instances over (`--hosts`); 1: a single host."""


MODES: dict[str, Mode] = {
    mode.name: mode
    for mode in (
        Mode("local", "shopnet.runtime.local:LocalDriver"),
        Mode(
            "netns",
            "shopnet_netns.driver:NetnsDriver",
            wirings=(Wiring.ROUTED, Wiring.ATTACHED),
            max_hosts=MAX_HOSTS,
        ),
        Mode(
            "docker",
            "shopnet_docker.driver:DockerDriver",
            wirings=(Wiring.TIERED, Wiring.SINGLE),
            discoveries=(Discovery.REGISTRY, Discovery.DNS),
        ),
        # Overlays per tier, always: no wiring to choose; no DNS discovery across nodes.
        Mode("swarm", "shopnet_swarm.driver:SwarmDriver"),
    )
}
