"""netns `--wiring attached` end to end, as root: up, the API, three products, isolation, down.

The default topology (port 8080, the real tier bridges): each instance has a leg
on every tier it talks to, the firewall is the routed wiring's, and `down`
leaves no leg behind.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from shopnet.topology import default_topology
from shopnet.topology.model import Wiring
from shopnet_netns import NetworkPlan, discover
from tests.netns.helpers import leftovers as network_leftovers
from tests.support.servers import scratch_dir
from tests.support.stack import bearer, leftovers, request, require_default_resources, shopnet

pytestmark = [
    pytest.mark.slow,
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="netns mode needs root"),
]

DNAT = "http://127.0.0.1:8080"
PLAN = NetworkPlan.from_topology(default_topology(), {"product": 3}, wiring=Wiring.ATTACHED)


@pytest.fixture(scope="module")
def stack() -> Iterator[Path]:
    require_default_resources("netns")
    root = scratch_dir("shopnet-e2e-attached-")
    try:
        result = shopnet(
            root, "up", "--mode", "netns", "--wiring", "attached", "--scale", "product=3"
        )
        assert result.stdout.strip() == f"{DNAT}/api/products"
        assert "wiring attached" in result.stderr
        yield root
    finally:
        shopnet(root, "down", "--mode", "netns", "--volumes", check=False)
        found = list(discover(PLAN.names).lines()) + network_leftovers(PLAN)
        left = leftovers(root, "netns")
        assert found == [] and left == {"records": [], "tagged": [], "state": False}
        legs = [leg.veth for e in PLAN.endpoints for leg in e.legs]
        links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
        assert [leg for leg in legs if f" {leg}@" in links] == []


def test_api_through_dnat_and_three_products(stack: Path) -> None:
    assert request(f"{DNAT}/api/products/3").body["id"] == 3
    created = request(
        f"{DNAT}/api/orders",
        method="POST",
        body={"customer_id": "c-attached", "items": [{"product_id": 2, "quantity": 1}]},
        headers=bearer(stack, "netns", "c-attached"),
    )
    assert created.status == 201, created.body
    served = [request(f"{DNAT}/api/products/{i}").headers["X-Served-By"] for i in range(1, 10)]
    assert len(set(served)) == 3, served


def test_status_topology_and_isolation_name_the_wiring(stack: Path) -> None:
    status = shopnet(stack, "status", "--mode", "netns").stdout
    assert status.startswith("# netns stack, wiring attached, discovery registry")
    topology = shopnet(stack, "topology").stdout
    assert "Wiring in use: netns attached" in topology
    result = shopnet(stack, "isolation", "--mode", "netns", check=False)
    print(result.stdout)
    assert result.returncode == 0, result.stdout
    assert "wiring attached" in result.stdout and " 0 unexpected" in result.stdout


def test_the_gateway_calls_products_over_its_backend_leg(stack: Path) -> None:
    gateway = PLAN.endpoint("gateway-1")
    route = shopnet(stack, "exec", "gateway-1", "--", "ip", "-o", "route", "get", "172.21.0.20")
    assert "dev eth1" in route.stdout and " via " not in route.stdout, route.stdout
    assert str(gateway.address_on("backend")) in route.stdout
    inside = shopnet(stack, "exec", "postgres-1", "--", "ip", "-o", "route").stdout
    assert "default" not in inside and " via " not in inside, inside
