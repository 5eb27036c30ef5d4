"""The swarm's unreachable routes belong to one stack: another stack's `down` (the same
subnets, another prefix) neither sees nor deletes them."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import pytest

from shopnet_swarm import tierroutes
from tests.docker.helpers import isolated_topology

pytestmark = [pytest.mark.root]

NETNS = "sntr-n2"


@pytest.fixture
def node2() -> Iterator[str]:
    subprocess.run(["ip", "netns", "add", NETNS], check=True)
    try:
        yield NETNS
    finally:
        subprocess.run(["ip", "netns", "del", NETNS], check=False)


def test_routes_are_claimed_and_released_per_stack(node2: str) -> None:
    topology = isolated_topology(prefix="sntr")
    subnets = [tier.subnet for tier in topology.tiers]
    tierroutes.claim(topology, "sntrsw", node2)
    try:
        assert tierroutes.claimed(topology, "othersw") == []
        assert tierroutes.release(topology, "othersw") == []
        assert tierroutes.claimed(topology, "sntrsw") == subnets
    finally:
        released = tierroutes.release(topology, "sntrsw")
    assert released == [f"route unreachable {subnet}" for subnet in subnets]
    assert tierroutes.claimed(topology, "sntrsw") == []


def test_a_stack_s_metric_is_stable_and_in_range() -> None:
    low, size = tierroutes.METRICS
    assert tierroutes.metric("shopnetsw") == tierroutes.metric("shopnetsw")
    assert tierroutes.metric("shopnetsw") != tierroutes.metric("sstsw")
    assert all(low <= tierroutes.metric(s) < low + size for s in ("a", "shopnetsw", "x" * 99))
