"""The attached wiring as data: legs, addresses, routes and firewall sources (no root)."""

from __future__ import annotations

import dataclasses

import pytest

from shopnet.errors import ConfigError
from shopnet.topology import default_topology
from shopnet.topology.model import Wiring
from shopnet_netns import firewall
from shopnet_netns.plan import DEFAULT_ROUTE, NetworkPlan


def attached(scale: dict[str, int] | None = None) -> NetworkPlan:
    return NetworkPlan.from_topology(default_topology(), scale, wiring=Wiring.ATTACHED)


def test_legs_on_every_tier_an_instance_talks_to() -> None:
    plan = attached({"product": 10})
    legs = {
        e.name: [(leg.tier.name, leg.veth, leg.ifname, str(leg.address)) for leg in e.legs]
        for e in plan.endpoints
    }
    assert legs["gateway-1"] == [("backend", "sn-gateway-1.2", "eth1", "172.21.0.138/24")]
    assert legs["product-10"] == [("database", "sn-product-10.3", "eth1", "172.22.0.157/24")]
    assert legs["order-1"] == [("database", "sn-order-1.3", "eth1", "172.22.0.168/24")]
    assert legs["registry-1"] == legs["postgres-1"] == []
    assert all(len(leg[1]) <= 15 for found in legs.values() for leg in found)


def test_routes_default_via_home_and_none_on_the_internal_tier() -> None:
    plan = attached()
    assert [r.destination for r in plan.endpoint("product-1").routes] == [DEFAULT_ROUTE]
    assert plan.endpoint("postgres-1").routes == ()
    routed = NetworkPlan.from_topology(default_topology())
    assert routed.endpoint("postgres-1").routes != ()  # routed: via the host to its peers
    assert all(e.legs == () for e in routed.endpoints)


def test_firewall_sources_include_the_legs_targets_stay_home() -> None:
    ruleset = firewall.render(attached())
    assert (
        "ip saddr { 172.21.0.20, 172.22.0.148 } ip daddr { 172.22.0.11 } tcp dport 6379" in ruleset
    )
    assert "172.22.0.148 } tcp dport" not in ruleset  # a leg is never a flow's target


def test_colliding_legs_are_refused() -> None:
    topology = default_topology()
    # order moved to the frontend with product's host number: both get database leg .148.
    services = tuple(
        dataclasses.replace(s, tier="frontend", host=20) if s.name == "order" else s
        for s in topology.services
    )
    clash = dataclasses.replace(topology, services=services)
    with pytest.raises(ConfigError, match="would both use"):
        NetworkPlan.from_topology(clash, wiring=Wiring.ATTACHED)


def test_netns_refuses_docker_wirings() -> None:
    with pytest.raises(ConfigError, match="routed or attached"):
        NetworkPlan.from_topology(default_topology(), wiring=Wiring.SINGLE)
