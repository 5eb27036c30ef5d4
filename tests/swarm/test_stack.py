"""The stack on a two-node Docker Swarm, end to end (`--mode swarm`, product scale 2).

One stack for the module under its own prefix and state dir; a killed earlier
run's leftovers are cleared first. Teardown asserts `down --volumes` leaves no
object of ours on either engine, no route, no node 2, and the engine out of swarm mode as
it was before.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from shopnet.audit.collect import audit
from shopnet.runtime.progress import Progress
from shopnet_docker.engine import Docker
from shopnet_docker.images import BuildReport
from shopnet_swarm import nodes, readiness, tierroutes
from shopnet_swarm.driver import SwarmDriver
from shopnet_swarm.tasks import Task
from tests.docker.conftest import leftovers
from tests.docker.helpers import admin, http, isolated_topology

pytestmark = [
    pytest.mark.docker,
    pytest.mark.root,
    pytest.mark.slow,
]

PREFIX = "sst"
PRODUCTS = 2


@pytest.fixture(scope="module")
def swarm(
    docker: Docker, images: BuildReport, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SwarmDriver]:
    root = tmp_path_factory.mktemp("swarm-state")
    driver = SwarmDriver(
        topology=isolated_topology(prefix=PREFIX), root=root, progress=Progress(quiet=True)
    )
    before, _ = nodes.swarm_state(docker)
    if before != "inactive" and not nodes.ours(docker, driver.project):
        pytest.skip(f"the engine is already in a swarm not made by this test ({before})")
    cleared = driver.down(volumes=True)  # a killed earlier run's leftovers (our prefix only)
    assert cleared.problems == (), cleared.problems
    try:
        driver.up(scale={"product": PRODUCTS})
        yield driver
    finally:
        result = driver.down(volumes=True)
        assert result.problems == (), result.problems
        assert leftovers(docker, driver.project) == []
        assert nodes.swarm_state(docker)[0] == "inactive"
        assert driver.node2.present() == []
        assert tierroutes.claimed(driver.topology, driver.project) == []
        gw = docker.lines("network", "ls", "-q", "--filter", "label=io.shopnet.stack=sstsw",
                          what="networks")  # fmt: skip
        assert gw == []


def test_products_and_orders_through_the_published_port(swarm: SwarmDriver) -> None:
    served: Counter[str] = Counter()
    for _ in range(12):
        reply = http("GET", f"{swarm.gateway_url}/api/products?page_size=1")
        assert reply.status == 200, reply.body
        assert reply.body["items"]
        served[reply.headers.get("X-Served-By", "")] += 1
    assert len(served) == PRODUCTS, served  # both replicas answer, wherever they run
    order = http(
        "POST",
        f"{swarm.gateway_url}/api/orders",
        {"customer_id": "swarm-e2e", "items": [{"product_id": 4, "quantity": 2}]},
        headers=admin(swarm),
    )
    assert order.status == 201, order.body


def test_product_replicas_run_on_both_nodes(swarm: SwarmDriver) -> None:
    tasks = [c for c in swarm.stack.containers() if c.service == "product" and c.running]
    assert len(tasks) == PRODUCTS
    assert {t.node for t in tasks if isinstance(t, Task)} == {1, 2}


def test_tiers_are_overlays_and_internal_but_the_gateway_s_public_leg(
    swarm: SwarmDriver, docker: Docker
) -> None:
    found = {n.tier: n for n in swarm.stack.networks()}
    assert set(found) == {t.name for t in swarm.topology.tiers}
    # Each node answers for the tiers itself: nothing leaves it by the default route.
    assert tierroutes.claimed(swarm.topology, swarm.project) == tierroutes.subnets(swarm.topology)
    for tier in swarm.topology.tiers:
        data = docker.json("network", "inspect", found[tier.name].id, what="inspect")[0]
        assert data["Driver"] == "overlay"
        assert data["Internal"] is (tier.name != "frontend")
        assert data["IPAM"]["Config"][0]["Subnet"] == str(tier.subnet)


def test_status_isolation_and_exec(swarm: SwarmDriver) -> None:
    rows = swarm.status()
    assert {r.health for r in rows} == {"ready"}, [(r.instance, r.health) for r in rows]
    assert len(rows) == len(swarm.topology.services) + PRODUCTS - 1
    text, ok = swarm.isolation()
    assert ok, text
    assert swarm.exec("product-2", ["true"]) == 0


def test_a_timed_out_start_would_name_no_unregistered_task(swarm: SwarmDriver) -> None:
    # What `up` reports when registrations do not converge, on a stack where they did.
    assert readiness.unregistered(swarm) == "every task is registered now"


def test_audit_measures_every_instance_on_both_nodes(swarm: SwarmDriver) -> None:
    found = audit(swarm)
    assert len(found) == len(swarm.topology.services) + PRODUCTS - 1
    for item in found:  # no root, no capability, read-only root, in every task
        assert item.facts.uid != 0 and item.facts.cap_eff == 0, item.as_dict()
        assert not item.facts.root_writable, item.as_dict()


def test_backup_and_restore(swarm: SwarmDriver, tmp_path: Path) -> None:
    dump = tmp_path / "dump.sql"
    assert "backed up" in swarm.backup(dump)
    assert dump.stat().st_size > 0
    assert "restored" in swarm.restore(dump)


def test_the_bench_flush_reaches_the_swarm_redis(swarm: SwarmDriver) -> None:
    url = f"{swarm.gateway_url}/api/products/3"
    http("GET", url)
    assert http("GET", url).headers.get("X-Cache") == "HIT"
    with swarm.cache_flusher([]) as flush_all:  # swarm's finds its Redis itself, not by rows
        assert flush_all is not None
        flush_all()
    # Leaving waits for redis-cli to have run the EVAL: the next read goes to PostgreSQL.
    assert http("GET", url).headers.get("X-Cache") == "MISS"


def test_another_prefix_s_down_leaves_this_stack_alone(swarm: SwarmDriver, tmp_path: Path) -> None:
    """The same subnets and engine under another prefix: its `down` finds nothing of its own
    (not this stack's routes, swarm or gwbridge) and removes nothing; this stack still serves."""
    other = SwarmDriver(
        topology=dataclasses.replace(swarm.topology, prefix="sso"),
        root=tmp_path,
        progress=Progress(quiet=True),
    )
    assert not other.present() and other.leftovers() == []
    assert other.down(volumes=True).removed == ()
    assert tierroutes.claimed(swarm.topology, swarm.project) == [
        t.subnet for t in swarm.topology.tiers
    ]
    assert nodes.ours(swarm.docker, swarm.project)
    reply = http("GET", f"{swarm.gateway_url}/api/products?page_size=1")
    assert reply.status == 200, reply.body


def test_down_then_up_again_on_the_same_engine(swarm: SwarmDriver, docker: Docker) -> None:
    """Issue 23: swarm mode worked once per engine. Last in the module: the module's stack
    goes, the same topology (same subnets) comes up again on the same engine and serves;
    the module's teardown then checks that this second `down` leaves nothing either."""
    gwbridge = docker.json("network", "inspect", nodes.GWBRIDGE, what="inspect")[0]
    assert gwbridge["IPAM"]["Config"][0]["Subnet"] == str(nodes.GWBRIDGE_SUBNET)
    result = swarm.down(volumes=True)
    assert result.problems == (), result.problems
    assert leftovers(docker, swarm.project) == [] and nodes.swarm_state(docker)[0] == "inactive"
    swarm.up(scale={"product": PRODUCTS})
    reply = http("GET", f"{swarm.gateway_url}/api/products?page_size=1")
    assert reply.status == 200 and reply.body["items"], reply.body
    order = http(
        "POST",
        f"{swarm.gateway_url}/api/orders",
        {"customer_id": "swarm-again", "items": [{"product_id": 4, "quantity": 1}]},
        headers=admin(swarm),
    )
    assert order.status == 201, order.body
