"""The one topology model every runtime reads (see default.toml)."""

from shopnet.topology.load import default_topology, load
from shopnet.topology.model import WORLD, Flow, Instance, Kind, Service, Tier, Topology

__all__ = [
    "WORLD",
    "Flow",
    "Instance",
    "Kind",
    "Service",
    "Tier",
    "Topology",
    "default_topology",
    "load",
]
