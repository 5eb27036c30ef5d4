"""Which wirings a topology supports, and what each attaches where."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from shopnet.errors import ConfigError
from shopnet.runtime import variant
from shopnet.topology import default_topology
from shopnet.topology.describe import describe
from shopnet.topology.load import parse
from shopnet.topology.model import Discovery, Wiring

DEFAULT = Path(__file__).parents[2] / "services/shopnet/topology/default.toml"


def data() -> dict:
    return tomllib.loads(DEFAULT.read_text())


def test_the_default_topology_offers_both_wirings_per_mode_defaults_first() -> None:
    topology = default_topology()
    assert topology.wirings_for("netns") == (Wiring.ROUTED, Wiring.ATTACHED)
    assert topology.wirings_for("docker") == (Wiring.TIERED, Wiring.SINGLE)
    assert topology.wiring("netns") is Wiring.ROUTED
    assert topology.wiring("docker") is Wiring.TIERED
    assert topology.wiring("local") is None
    assert topology.single_network is not None and topology.single_network.name == "app-network"


def test_attachments_per_wiring() -> None:
    topology = default_topology()
    assert topology.attachments("gateway", Wiring.ROUTED) == ("frontend",)
    assert topology.attachments("gateway", Wiring.ATTACHED) == ("frontend", "backend")
    assert topology.attachments("order", Wiring.TIERED) == ("backend", "database")
    assert topology.attachments("postgres", Wiring.SINGLE) == ("app-network",)


def test_a_wiring_the_topology_does_not_list_is_refused() -> None:
    raw = data()
    raw["wirings"] = {"netns": ["routed"]}
    topology = parse(raw, source="t")
    with pytest.raises(ConfigError, match="cannot use wiring 'attached'"):
        topology.wiring("netns", "attached")
    with pytest.raises(ConfigError, match="docker mode cannot use wiring 'single'"):
        topology.wiring("docker", "single")  # docker not listed: no wiring at all


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["wirings"].update(netns=["tiered"]), "netns cannot use 'tiered'"),
        (lambda d: d["wirings"].update(k8s=["routed"]), "mode 'k8s' has no wirings"),
        (lambda d: d.pop("single_network"), "no \\[single_network\\]"),
        (
            lambda d: d["single_network"].update(subnet="172.21.0.0/24"),
            "overlaps tier backend",
        ),
    ],
)
def test_wirings_are_validated(change, message) -> None:
    raw = data()
    change(raw)
    with pytest.raises(ConfigError, match=message):
        parse(raw, source="t")


def test_a_file_without_wirings_keeps_the_historic_defaults() -> None:
    raw = data()
    raw.pop("wirings")
    raw.pop("single_network")
    topology = parse(raw, source="t")
    assert topology.wirings_for("netns") == (Wiring.ROUTED,)
    assert topology.wirings_for("docker") == (Wiring.TIERED,)


def test_mode_variants_parse() -> None:
    topology = default_topology()
    parsed = [
        variant.parse(text, topology)
        for text in ("netns:attached", "docker:single:dns", "local", "netns")
    ]
    assert [p.label for p in parsed] == [
        "netns:attached",
        "docker:single:dns",
        "local",
        "netns:routed",
    ]
    assert parsed[1].variant.discovery is Discovery.DNS
    with pytest.raises(ConfigError):
        variant.parse("docker:single:consul", topology)
    with pytest.raises(ConfigError):
        variant.parse("netns:single", topology)


def test_describe_names_the_wiring_in_use() -> None:
    topology = default_topology()
    text = describe(topology, {}, mode="netns", wiring=Wiring.ATTACHED)
    assert "Wiring in use: netns attached" in text
    assert "  gateway   frontend, backend" in text
