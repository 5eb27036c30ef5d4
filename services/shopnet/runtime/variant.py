"""A mode's variant: its wiring, the gateway's discovery and (netns) the hosts, chosen per stack.

`--modes` of the bench and the tests name one as `mode[:wiring[:discovery]][:hostsN]`,
e.g. `netns:attached`, `docker:single:dns` or `netns:hosts2`; the topology says which
wirings a mode may use (its first is the default), the mode (shopnet.topology.modes) which
wirings, discoveries and hosts it can run at all. `hostsN` (netns only) spreads the instances over N simulated hosts joined by
VXLAN (`shopnet up --hosts N`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from shopnet.errors import ConfigError
from shopnet.topology.model import Discovery, Topology, Wiring
from shopnet.topology.modes import MODES


@dataclass(frozen=True, slots=True)
class Variant:
    wiring: Wiring | None = None
    """None: the mode's default (or a mode with no wiring to choose)."""
    discovery: Discovery = Discovery.REGISTRY
    hosts: int = 1
    """Simulated hosts the netns mode spreads instances over (1: today's single host)."""


_HOSTS = re.compile(r"^hosts(\d+)$")


@dataclass(frozen=True, slots=True)
class ModeVariant:
    """One entry of `--modes`: a mode and the variant it runs."""

    mode: str
    variant: Variant

    @property
    def label(self) -> str:
        """`netns:attached`, `docker:single:dns`, `local`: how results name it."""
        parts = [self.mode]
        if self.variant.wiring is not None:
            parts.append(self.variant.wiring.value)
        if self.variant.discovery is not Discovery.REGISTRY:
            parts.append(self.variant.discovery.value)
        if self.variant.hosts > 1:
            parts.append(f"hosts{self.variant.hosts}")
        return ":".join(parts)


def resolve(
    topology: Topology,
    mode: str,
    wiring: str | None,
    discovery: str | None,
    hosts: int | None = None,
) -> Variant:
    """The variant `mode` runs, checked against the topology (ConfigError)."""
    chosen = topology.wiring(mode, wiring)
    try:
        found = Discovery(discovery or Discovery.REGISTRY)
    except ValueError:
        known = ", ".join(d.value for d in Discovery)
        raise ConfigError(f"discovery {discovery!r}: choose from {known}") from None
    count = hosts or 1
    if count != 1:
        most = MODES[mode].max_hosts if mode in MODES else 1
        if most == 1:
            several = " or ".join(m.name for m in MODES.values() if m.max_hosts > 1)
            raise ConfigError(f"--hosts is for {several} mode ({mode} mode runs on one host)")
        if not 2 <= count <= most:
            raise ConfigError(f"--hosts takes 2 to {most} hosts")
        if chosen is not Wiring.ROUTED:
            raise ConfigError(f"--hosts needs the routed wiring, not {chosen}")
    return Variant(wiring=chosen, discovery=found, hosts=count)


def parse(text: str, topology: Topology) -> ModeVariant:
    """`mode[:wiring[:discovery]][:hostsN]` → ModeVariant (the mode is checked by the caller)."""
    mode, *rest = text.strip().split(":")
    hosts = None
    if rest and (match := _HOSTS.match(rest[-1])):
        hosts = int(match.group(1))
        rest = rest[:-1]
    if len(rest) > 2:
        raise ConfigError(f"{text!r}: expected mode[:wiring[:discovery]][:hostsN]")
    wiring = rest[0] if rest and rest[0] else None
    discovery = rest[1] if len(rest) == 2 else None
    return ModeVariant(mode, resolve(topology, mode, wiring, discovery, hosts))
