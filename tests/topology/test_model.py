"""The topology model: the default file, address planning, and validation of bad files."""

from __future__ import annotations

import copy
import tomllib
from importlib import resources
from ipaddress import IPv4Address
from typing import Any

import pytest

from shopnet.errors import ConfigError
from shopnet.topology import default_topology
from shopnet.topology.load import parse
from shopnet.topology.model import WORLD, Kind


@pytest.fixture
def raw() -> dict[str, Any]:
    text = resources.files("shopnet.topology").joinpath("default.toml").read_text()
    return tomllib.loads(text)


def test_default_topology_matches_the_design_card() -> None:
    t = default_topology()
    assert {(x.name, x.bridge, str(x.subnet)) for x in t.tiers} == {
        ("frontend", "br-frontend", "172.20.0.0/24"),
        ("backend", "br-backend", "172.21.0.0/24"),
        ("database", "br-database", "172.22.0.0/24"),
    }
    assert t.tier("database").internal and not t.tier("frontend").internal
    gateway = next(i for i in t.plan() if i.service.name == "gateway")
    assert (gateway.address, gateway.port) == (IPv4Address("172.20.0.10"), 3000)
    assert t.published_port == 8080
    assert all(x.host_address == x.subnet.network_address + 1 for x in t.tiers)


def test_plan_scales_and_orders_by_dependency() -> None:
    t = default_topology()
    plan = t.plan({"product": 3})
    names = [i.name for i in plan]
    assert names[:2] == ["postgres-1", "redis-1"]
    assert names[-1] == "gateway-1"
    products = [i for i in plan if i.service.name == "product"]
    assert [str(i.address) for i in products] == ["172.21.0.20", "172.21.0.21", "172.21.0.22"]
    assert len({i.address for i in plan}) == len(plan)
    for instance in plan:
        for dep in instance.service.depends_on:
            assert names.index(f"{dep}-1") < names.index(instance.name)


def test_flows_cover_the_intended_paths_only() -> None:
    t = default_topology()
    assert t.allows("gateway", "product", 3001)
    assert t.allows("product", "redis", 6379)
    assert t.allows("order", "postgres", 5432)
    assert t.allows(WORLD, "gateway", 3000)
    assert not t.allows("gateway", "postgres", 5432)
    assert not t.allows("gateway", "redis", 6379)
    assert not t.allows("redis", "gateway", 3000)
    assert not t.allows("order", "redis", 6379)


def test_docker_networks_follow_the_flows() -> None:
    t = default_topology()
    assert t.networks_of("gateway") == ("frontend", "backend")
    assert t.networks_of("product") == ("backend", "database")
    assert t.networks_of("order") == ("backend", "database")
    assert t.networks_of("registry") == ("backend",)
    assert t.networks_of("postgres") == ("database",)
    assert t.networks_of("redis") == ("database",)


def test_datastores_are_kinds_apart() -> None:
    t = default_topology()
    assert {s.name for s in t.services if s.kind is Kind.DATASTORE} == {"postgres", "redis"}
    assert [s.name for s in t.services if s.scalable] == ["product", "order"]


def test_dynamic_range_is_the_upper_half() -> None:
    assert str(default_topology().tier("backend").dynamic_range) == "172.21.0.128/25"


def _mutated(raw: dict[str, Any], change) -> dict[str, Any]:
    data = copy.deepcopy(raw)
    change(data)
    return data


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["tiers"]["backend"].update(subnet="172.20.0.0/16"), "overlap"),
        (
            lambda d: d["tiers"]["backend"].update(bridge="br-backend-way-too-long"),
            "longer than 15",
        ),
        (lambda d: d["services"]["order"].update(host=20), "both use"),
        (lambda d: d["services"]["product"].update(max_instances=200), "outside the static range"),
        (lambda d: d["services"]["gateway"].update(tier="dmz"), "unknown tier"),
        (
            lambda d: d["flows"].append({"from": "gateway", "to": "ldap", "port": 389}),
            "unknown service",
        ),
        (lambda d: d["flows"].append({"from": "nobody", "to": "gateway"}), "unknown service"),
        (lambda d: d["services"]["registry"].update(depends_on=["gateway"]), "cycle"),
        (lambda d: d["services"]["redis"].update(max_instances=2), "cannot be scaled"),
        (lambda d: d["services"]["order"].update(port=70000), "not a TCP port"),
        (lambda d: d["tiers"]["backend"].pop("subnet"), "malformed"),
    ],
)
def test_invalid_topologies_are_refused_with_a_reason(raw, change, message) -> None:
    with pytest.raises(ConfigError, match=message):
        parse(_mutated(raw, change), source="test")
