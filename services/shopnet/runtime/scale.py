"""`--scale service=N` options, checked against the topology."""

from __future__ import annotations

from collections.abc import Iterable

from shopnet.errors import ConfigError
from shopnet.topology.model import Topology


def parse_scale(options: Iterable[str], topology: Topology) -> dict[str, int]:
    """`["product=3"]` → `{"product": 3}`, with one-line errors for anything else."""
    scale: dict[str, int] = {}
    scalable = ", ".join(s.name for s in topology.services if s.scalable)
    for option in options:
        name, sep, raw = option.partition("=")
        if not sep or not raw.strip().lstrip("-").isdigit():
            raise ConfigError(f"--scale {option!r}: expected SERVICE=N, e.g. product=3")
        count = int(raw)
        try:
            service = topology.service(name)
        except KeyError:
            raise ConfigError(
                f"--scale {option}: unknown service {name!r} (scalable: {scalable})"
            ) from None
        if not service.scalable:
            raise ConfigError(
                f"--scale {option}: {name} runs exactly one instance (scalable: {scalable})"
            )
        if not 1 <= count <= service.max_instances:
            raise ConfigError(
                f"--scale {option}: {name} takes 1 to {service.max_instances} instances"
            )
        scale[name] = count
    return scale
