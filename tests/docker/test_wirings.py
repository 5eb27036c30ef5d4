"""docker's two wirings, offline: the single network's compose file and its isolation lesson."""

from __future__ import annotations

import yaml

from shopnet.topology import default_topology
from shopnet.topology.model import Discovery, Wiring
from shopnet_docker.compose import compose_model, render
from shopnet_docker.isolation import expectation


def test_single_puts_every_service_on_app_network_without_static_addresses() -> None:
    topology = default_topology()
    model = yaml.safe_load(render(topology, wiring=Wiring.SINGLE))
    assert list(model["networks"]) == ["app-network"]
    network = model["networks"]["app-network"]
    assert network["name"] == "shopnet_app-network"
    assert "internal" not in network  # the seed's layout: the datastores have a way out
    assert network["ipam"]["config"][0]["subnet"] == "172.23.0.0/24"
    assert network["driver_opts"]["com.docker.network.bridge.name"] == "snd-app"
    for name, service in model["services"].items():
        assert service["networks"] == {"app-network": {}}, name
    assert "SHOPNET_GATEWAY_DISCOVERY" not in model["services"]["gateway"]["environment"]


def test_dns_discovery_names_every_service_the_gateway_calls() -> None:
    topology = default_topology()
    for wiring in (Wiring.SINGLE, Wiring.TIERED):
        env = compose_model(topology, wiring=wiring, discovery=Discovery.DNS)["services"][
            "gateway"
        ]["environment"]
        assert env["SHOPNET_GATEWAY_DISCOVERY"] == "dns"
        assert env["SHOPNET_GATEWAY_DNS_NAMES"] == (
            "registry=registry:8500,product=product:3001,order=order:3002"
        )


def test_tiered_is_the_default_render() -> None:
    topology = default_topology()
    assert render(topology) == render(topology, wiring=Wiring.TIERED)


def test_what_the_single_network_allows_that_the_tiers_deny() -> None:
    """The lesson: on one network every service reaches every other; only the tiers
    (and the netns firewall) keep the database away from the gateway."""
    topology = default_topology()
    names = [s.name for s in topology.services]
    opened = sorted(
        (source, target)
        for source in names
        for target in names
        if source != target
        and expectation(topology, source, target, Wiring.TIERED)[1] == "blocked"
        and expectation(topology, source, target, Wiring.SINGLE)[1] == "shared"
    )
    assert ("gateway", "postgres") in opened and ("gateway", "redis") in opened
    assert ("redis", "gateway") in opened and ("postgres", "registry") in opened
    assert len(opened) == 15
    # Nothing is blocked on a single network; every flow still connects on both.
    for source in names:
        for target in names:
            if source != target:
                assert expectation(topology, source, target, Wiring.SINGLE)[1] != "blocked"
