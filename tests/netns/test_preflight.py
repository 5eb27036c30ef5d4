"""Preflight refuses a machine the testbed would break — and then creates nothing."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator

import pytest
from pyroute2 import IPRoute

from shopnet.errors import PreflightError, StateError
from shopnet_netns import NetworkPlan, build, discover, preflight
from tests.netns.helpers import REPO, leftovers, root_only

pytestmark = root_only


@pytest.fixture
def foreign_link() -> Iterator[IPRoute]:
    """Interfaces the test creates as "someone else's" (this kernel has no dummy driver,
    so a veth pair stands in for one); removed afterwards."""
    with IPRoute() as ipr:
        yield ipr
        for name in ("stcoll0", "stbr-database"):
            if found := ipr.link_lookup(ifname=name):
                ipr.link("del", index=found[0])


def test_subnet_collision_is_reported_and_nothing_is_created(
    clean: NetworkPlan, foreign_link: IPRoute
) -> None:
    backend = clean.bridge("backend").tier.subnet
    foreign_link.link("add", ifname="stcoll0", kind="veth", peer="stcoll1")
    index = foreign_link.link_lookup(ifname="stcoll0")[0]
    foreign_link.addr("add", index=index, address=str(backend.network_address + 5), prefixlen=24)
    foreign_link.link("set", index=index, state="up")

    with pytest.raises(PreflightError) as error:
        build(clean)
    message = str(error.value)
    print(message)
    assert f"tier backend ({backend}) overlaps the host route {backend} dev stcoll0" in message
    assert message.count("stcoll0") == 1  # the route and the address: one message
    assert discover(clean.names).empty
    assert leftovers(clean) == []


def test_a_foreign_interface_with_our_bridge_name_is_refused(
    clean: NetworkPlan, foreign_link: IPRoute
) -> None:
    foreign_link.link("add", ifname="stbr-database", kind="bridge")
    with pytest.raises(PreflightError, match="stbr-database exists and is not ours"):
        build(clean)
    assert discover(clean.names).empty


def test_leftovers_are_named_as_such(network: NetworkPlan) -> None:
    with pytest.raises(StateError, match=r"leftovers of a crashed run .*shopnet down"):
        preflight.check(network)
    preflight.check(network, allow_ours=True)  # completing our own build is fine
    build(network)


def test_missing_binaries_name_their_debian_packages(clean: NetworkPlan) -> None:
    script = (
        f"import sys; sys.path.insert(0, {str(REPO)!r})\n"
        "from shopnet_netns import build\n"
        "from tests.netns.helpers import testbed_plan\n"
        "try:\n"
        f"    build(testbed_plan({clean.topology.published_port}))\n"
        "except Exception as exc:\n"
        "    print(type(exc).__name__, exc)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], env={"PATH": "/nonexistent"}, capture_output=True, text=True
    )
    print(out.stdout, out.stderr)
    assert out.stdout.startswith("PreflightError")
    assert "nft not found: install it with `apt-get install nftables`" in out.stdout
    assert "iptables not found: install it with `apt-get install iptables`" in out.stdout
    assert "ip not found: install it with `apt-get install iproute2`" in out.stdout
    assert discover(clean.names).empty


def test_not_root_is_refused_first(plan: NetworkPlan) -> None:
    os.seteuid(65534)
    try:
        with pytest.raises(PreflightError, match="needs root"):
            preflight.check(plan)
    finally:
        os.seteuid(0)


def test_a_published_port_in_use_is_refused(clean: NetworkPlan) -> None:
    port = clean.topology.published_port
    in_use = f"port {port} is in use on this host"
    with socket.create_server(("127.0.0.1", port)), pytest.raises(PreflightError, match=in_use):
        build(clean)
    assert discover(clean.names).empty
