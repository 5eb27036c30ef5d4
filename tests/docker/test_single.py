"""docker `--networks single --discovery dns`: the seed's layout, end to end.

One network for every service and the gateway balancing over what Docker's
embedded DNS answers for `product`: up, the API, three products balanced within
±10 %, the isolation matrix (everything shares the network: the lesson), a
product killed under load losing < 0.1 % of requests, and `down` leaving nothing.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator

import pytest

from shopnet.runtime.variant import Variant
from shopnet.topology.model import Discovery, Wiring
from shopnet_docker import isolation
from shopnet_docker.driver import DockerDriver
from shopnet_docker.engine import Docker
from shopnet_docker.images import BuildReport
from tests.docker.helpers import admin, http, running_stack

pytestmark = [pytest.mark.docker, pytest.mark.slow]

PRODUCTS = 3
PREFIX = "snts"


@pytest.fixture(scope="module")
def stack(
    docker: Docker, images: BuildReport, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DockerDriver]:
    single = Variant(wiring=Wiring.SINGLE, discovery=Discovery.DNS)
    root = tmp_path_factory.mktemp("docker-single")
    with running_stack(
        docker, root, prefix=PREFIX, variant=single, scale={"product": PRODUCTS}
    ) as d:
        yield d


def test_one_network_and_the_api(stack: DockerDriver) -> None:
    networks = stack.stack.networks()
    assert [n.tier for n in networks] == ["app-network"]
    assert stack.describe_variant() == "docker stack, wiring single, discovery dns"
    rows = stack.status()
    assert {r.health for r in rows} <= {"ready"} and len(rows) == 5 + PRODUCTS
    reply = http("GET", f"{stack.gateway_url}/api/products/1")
    assert reply.status == 200 and reply.body["id"] == 1
    order = http(
        "POST",
        f"{stack.gateway_url}/api/orders",
        {"customer_id": "c-single", "items": [{"product_id": 2, "quantity": 1}]},
        headers=admin(stack),
    )
    assert order.status == 201, order.body


def test_dns_alias_balancing_within_ten_percent(stack: DockerDriver) -> None:
    # As an admin: anonymous reads are rate-limited per address, and this measures balancing.
    as_admin = admin(stack)
    served = Counter(
        http("GET", f"{stack.gateway_url}/api/products/1", headers=as_admin).headers["X-Served-By"]
        for _ in range(60 * PRODUCTS)
    )
    print("served:", dict(served))
    assert len(served) == PRODUCTS
    assert all(abs(n - 60) <= 6 for n in served.values())


def test_isolation_shows_what_one_network_opens(stack: DockerDriver, docker: Docker) -> None:
    text, ok = stack.isolation()
    print(text)
    assert ok, text
    cells = {
        (c.source, c.target): c
        for c in isolation.matrix(docker, stack.topology, stack.stack.containers(), Wiring.SINGLE)
    }
    # Denied by the tiered networks, open here: the gateway reaches the database.
    assert cells[("gateway", "postgres")].outcome == "open"
    assert cells[("gateway", "postgres")].reason == "shared"
    assert cells[("redis", "gateway")].outcome == "open"
    assert not any(c.reason == "blocked" for c in cells.values())


def test_a_product_killed_under_load_loses_under_a_tenth_of_a_percent(
    stack: DockerDriver, docker: Docker
) -> None:
    """Last: kills product-2 while 8 clients keep asking; DNS drops it, retries cover the gap."""
    statuses: Counter[int] = Counter()
    stop = threading.Event()
    lock = threading.Lock()
    as_admin = admin(stack)  # not rate-limited: this counts what the kill loses, not 429s

    def client() -> None:
        while not stop.is_set():
            try:
                url = f"{stack.gateway_url}/api/products/7"
                status = http("GET", url, headers=as_admin, timeout=5).status
            except OSError:
                status = 0
            with lock:
                statuses[status] += 1

    threads = [threading.Thread(target=client) for _ in range(8)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(2)
        victim = next(c for c in stack.stack.containers() if c.instance == "product-2")
        docker.run("kill", victim.name, what="killing product-2")
        time.sleep(4)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    total = sum(statuses.values())
    print(f"{total} requests: {dict(statuses)}")
    assert total > 200
    assert (total - statuses[200]) / total < 0.001
