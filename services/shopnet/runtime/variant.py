"""A mode's variant: its wiring and the gateway's discovery, chosen per stack.

`--modes` of the bench and the tests name one as `mode[:wiring[:discovery]]`, e.g.
`netns:attached` or `docker:single:dns`; the topology says which wirings a mode
may use (its first is the default), the driver which discoveries it offers.
"""

from __future__ import annotations

from dataclasses import dataclass

from shopnet.errors import ConfigError
from shopnet.topology.model import Discovery, Topology, Wiring


@dataclass(frozen=True, slots=True)
class Variant:
    wiring: Wiring | None = None
    """None: the mode's default (or a mode with no wiring to choose)."""
    discovery: Discovery = Discovery.REGISTRY


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
        return ":".join(parts)


def resolve(topology: Topology, mode: str, wiring: str | None, discovery: str | None) -> Variant:
    """The variant `mode` runs, checked against the topology (ConfigError)."""
    chosen = topology.wiring(mode, wiring)
    try:
        found = Discovery(discovery or Discovery.REGISTRY)
    except ValueError:
        known = ", ".join(d.value for d in Discovery)
        raise ConfigError(f"discovery {discovery!r}: choose from {known}") from None
    return Variant(wiring=chosen, discovery=found)


def parse(text: str, topology: Topology) -> ModeVariant:
    """`mode[:wiring[:discovery]]` → ModeVariant (the mode itself is checked by the caller)."""
    mode, *rest = text.strip().split(":")
    if len(rest) > 2:
        raise ConfigError(f"{text!r}: expected mode[:wiring[:discovery]]")
    wiring = rest[0] if rest and rest[0] else None
    discovery = rest[1] if len(rest) == 2 else None
    return ModeVariant(mode, resolve(topology, mode, wiring, discovery))
