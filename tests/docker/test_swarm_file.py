"""The swarm stack file, rendered from the topology (no engine needed)."""

from __future__ import annotations

from shopnet.topology import default_topology
from shopnet.topology.model import Kind
from shopnet_swarm import stackfile


def test_stack_file_follows_the_topology() -> None:
    topology = default_topology()
    model = stackfile.stack_model(topology, scale={"product": 3})
    assert model["version"] == "3.8"
    networks = model["networks"]
    assert {n["driver"] for n in networks.values()} == {"overlay"}
    for tier in topology.tiers:
        assert networks[tier.name]["ipam"]["config"][0]["subnet"] == str(tier.subnet)
        assert networks[tier.name].get("internal", False) is tier.internal
    for name, spec in model["services"].items():
        service = topology.service(name)
        deploy = spec["deploy"]
        assert deploy["endpoint_mode"] == "dnsrr"  # no IPVS on this kernel: no VIPs
        assert deploy["replicas"] == (3 if name == "product" else 1)
        assert deploy["resources"]["limits"]["cpus"] == str(service.cpus)
        assert "depends_on" not in spec and "build" not in spec
        assert "healthcheck" in spec
        assert set(spec["networks"]) == set(topology.networks_of(name))
        if service.kind is not Kind.APP or "ports" in spec:
            assert deploy["placement"]["constraints"] == [stackfile.FIRST_NODE]
    (port,) = model["services"]["gateway"]["ports"]
    assert port == {"target": 3000, "published": topology.published_port,
                    "protocol": "tcp", "mode": "host"}  # fmt: skip
    secret = model["services"]["registry"]["secrets"][0]
    assert (secret["uid"], secret["mode"]) == ("10001", 0o400)


def test_stack_name_is_not_the_compose_project() -> None:
    assert stackfile.stack_name("shopnet") == "shopnetsw"
