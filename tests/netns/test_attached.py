"""The attached wiring: a leg on every tier an instance talks to, nothing routed by the host.

The same firewall must hold exactly as in the routed wiring (the matrix is the
topology's), connections must arrive from the source's leg on the target's
tier, the database tier must still have no route out, and teardown must find
every extra leg.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from pyroute2 import IPRoute

from shopnet.topology.model import Wiring
from shopnet_netns import NetworkPlan, build, discover, firewall, isolation, teardown
from shopnet_netns.isolation import Expect, Outcome
from tests.netns import helpers
from tests.netns.helpers import leftovers, root_only

pytestmark = root_only


@pytest.fixture
def attached() -> Iterator[NetworkPlan]:
    plan = helpers.testbed_plan(wiring=Wiring.ATTACHED)
    teardown(plan.names)
    build(plan)
    yield plan
    report = teardown(plan.names)
    assert report.problems == ()
    assert discover(plan.names).empty
    assert leftovers(plan) == []
    with IPRoute() as ipr:  # every leg went too (they carry the veth prefix)
        assert [
            leg.veth for e in plan.endpoints for leg in e.legs if ipr.link_lookup(ifname=leg.veth)
        ] == []


def by_key(results: list[isolation.Result]) -> dict[tuple[str, str, int], isolation.Result]:
    return {(r.probe.source, r.probe.target, r.probe.port): r for r in results}


def test_the_matrix_is_the_routed_one_and_arrives_over_legs(attached: NetworkPlan) -> None:
    results = isolation.check(attached)
    print("\n" + isolation.format_matrix(results))
    assert [r.describe() for r in results if not r.ok] == []
    found = by_key(results)
    product2, gateway = attached.endpoint("product-2"), attached.endpoint("gateway-1")
    # Seen from the leg on the target's tier, not from the home address via the host.
    assert found[("product-2", "redis-1", 6379)].seen_from == str(product2.address_on("database"))
    assert product2.address_on("database") != product2.address.ip
    assert found[("gateway-1", "product-1", 3001)].seen_from == str(gateway.address_on("backend"))
    # What is denied stays denied, on-link or not.
    assert found[("order-1", "redis-1", 6379)].outcome is Outcome.TIMEOUT  # order has a db leg
    assert found[("product-1", "product-2", 3001)].outcome is Outcome.TIMEOUT
    assert found[("gateway-1", "postgres-1", 5432)].outcome is Outcome.TIMEOUT
    assert found[("postgres-1", "outside", 80)].outcome is Outcome.UNREACHABLE
    assert sum(r.probe.expect is Expect.CONNECT for r in results) == 7 + 14
    routed = isolation.probes(helpers.testbed_plan(wiring=Wiring.ROUTED))
    assert [(p.source, p.target, p.port, p.expect) for p in isolation.probes(attached)] == [
        (p.source, p.target, p.port, p.expect) for p in routed
    ]


def test_every_flow_is_on_link(attached: NetworkPlan) -> None:
    """No allowed connection needs the host's routing: its target subnet is on a leg."""
    topology = attached.topology
    for endpoint in attached.endpoints:
        service = endpoint.instance.service.name
        with IPRoute(netns=endpoint.namespace, flags=0) as nsr:
            for flow in topology.flows:
                if flow.source != service:
                    continue
                target = attached.instances_of(flow.target)[0].address.ip
                route = nsr.route("get", dst=str(target))[0]
                assert route.get("RTA_GATEWAY") is None, (endpoint.name, flow.target)
            if endpoint.instance.tier.internal:  # the database tier: no route but on-link
                routes = nsr.get_routes(family=socket.AF_INET, table=254)
                assert all(r.get("RTA_GATEWAY") is None for r in routes)


def test_leg_addresses_are_not_a_way_in(attached: NetworkPlan) -> None:
    """A connection to a leg (not the home address) matches no flow and is dropped."""
    # Nothing listens there: a packet let through would come back as a RST (refused).
    product = attached.endpoint("product-1")
    leg = product.address_on("database")
    probe = isolation.Probe(
        "redis-1", attached.endpoint("redis-1").namespace, "product-1", leg, 3001, Expect.BLOCKED
    )
    assert [r.describe() for r in isolation.run([probe]) if not r.ok] == []


def test_without_the_firewall_the_legs_would_leak(attached: NetworkPlan) -> None:
    firewall.remove(attached.names)
    broken = by_key(isolation.check(attached))
    assert broken[("order-1", "redis-1", 6379)].outcome is Outcome.CONNECTED
    assert not broken[("order-1", "redis-1", 6379)].ok
