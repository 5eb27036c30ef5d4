"""The swarm stack file, rendered from the topology (no engine needed)."""

from __future__ import annotations

from shopnet.runtime import pids
from shopnet.runtime.users import User
from shopnet.topology import default_topology
from shopnet.topology.model import Kind, Service
from shopnet_docker import secretfiles
from shopnet_swarm import stackfile

DATASTORE_USER = User("store", 100, 101)


def user_of(service: Service) -> User:
    return DATASTORE_USER if service.kind is Kind.DATASTORE else User("shopnet", 10001, 10001)


def test_stack_file_follows_the_topology() -> None:
    topology = default_topology()
    model = stackfile.stack_model(topology, scale={"product": 3}, user_of=user_of)
    assert model["version"] == "3.9"
    networks = model["networks"]
    assert {n["driver"] for n in networks.values()} == {"overlay"}
    for tier in topology.tiers:
        assert networks[tier.name]["ipam"]["config"][0]["subnet"] == str(tier.subnet)
        # Internal but for the gateway's public leg, as in docker mode.
        assert networks[tier.name].get("internal", False) is (tier.name != "frontend")
    for name, spec in model["services"].items():
        service = topology.service(name)
        deploy = spec["deploy"]
        assert deploy["endpoint_mode"] == "dnsrr"  # no IPVS on this kernel: no VIPs
        assert deploy["replicas"] == (3 if name == "product" else 1)
        assert deploy["resources"]["limits"]["cpus"] == str(service.cpus)
        assert deploy["resources"]["limits"]["pids"] == pids.limit(service)
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

    assert all("driver_opts" not in n for n in networks.values())  # clear unless asked


def test_overlays_are_encrypted_when_the_kernel_can() -> None:
    model = stackfile.stack_model(default_topology(), scale={}, user_of=user_of, encrypted=True)
    assert {str(n.get("driver_opts")) for n in model["networks"].values()} == {"{'encrypted': ''}"}


def test_every_compose_secret_is_mounted_for_the_user_its_container_runs_as() -> None:
    """The credentials and the datastores' files too, not only the registry token."""
    topology = default_topology()
    model = stackfile.stack_model(topology, scale={}, user_of=user_of)
    for name, spec in model["services"].items():
        service = topology.service(name)
        own = {f.key for f in secretfiles.of_service(topology, service)}
        mounted = {s["source"]: s for s in spec.get("secrets", [])}
        assert own <= set(mounted), name
        owner = user_of(service)
        for secret in mounted.values():
            assert secret["target"] == secret["source"]
            assert (secret["uid"], secret["gid"], secret["mode"]) == (
                str(owner.uid),
                str(owner.gid),
                0o400,
            ), name
        assert set(mounted) <= set(model["secrets"])
    assert "redis_users_acl" in {s["source"] for s in model["services"]["redis"]["secrets"]}


def test_stack_name_is_not_the_compose_project() -> None:
    assert stackfile.stack_name("shopnet") == "shopnetsw"
