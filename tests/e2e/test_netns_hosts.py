"""netns `--hosts 2` end to end, as root: two simulated hosts joined by VXLAN.

The test topology with a prefix, subnets and bridge names of its own (snhosts,
10.215.x, shbr-*) and a free published port, so it never meets a person's stack
nor the other netns tests: up through the `shopnet` command, the API
through the DNAT, instances on both hosts, a cross-host flow that is allowed
and one that is not, VXLAN packets on the underlay, `down` leaving nothing —
also after `up` was killed with SIGKILL halfway.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from shopnet.topology.load import parse as parse_topology
from shopnet_netns import NetworkPlan, discover, namespaces, teardown
from tests.netns import helpers
from tests.support.servers import free_port, scratch_dir
from tests.support.stack import bearer, leftovers, request, shopnet, status

pytestmark = [
    pytest.mark.slow,
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="netns mode needs root"),
]

PORT = free_port()
DNAT = f"http://127.0.0.1:{PORT}"
SCALE = {"product": 2}
PREFIX, VETH_PREFIX = "snhosts", "sh-"
TOPOLOGY_TOML = (
    helpers.testbed_toml(PORT)
    .replace(f'prefix = "{helpers.PREFIX}"', f'prefix = "{PREFIX}"')
    .replace('"10.213.', '"10.215.')
    .replace('"stbr-', '"shbr-')
)
# A veth prefix of its own: the leftover check then never looks at a person's `sn-` links.
PLAN = NetworkPlan.from_topology(
    parse_topology(tomllib.loads(TOPOLOGY_TOML), source="test"),
    SCALE,
    veth_prefix=VETH_PREFIX,
    hosts=2,
)
HOST_OF = {e.name: e.host for e in PLAN.endpoints}
CONNECT = "import socket, sys; socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=2)"


def nothing_left(root: Path) -> list[str]:
    """Everything of the test prefix that still exists, as our inventory and `ip` see it."""
    found = list(discover(PLAN.names).lines()) + helpers.leftovers(PLAN)
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    found += [f"link {n}" for n in (h.veth for h in PLAN.hosts) if f" {n}@" in links]
    assert PLAN.underlay is not None
    found += [f"link {PLAN.underlay.bridge}"] if f" {PLAN.underlay.bridge}:" in links else []
    left = leftovers(root, "netns")
    found += [f"process {name}" for name in left["records"] + left["tagged"]]
    return found + (["state file"] if left["state"] else [])


@pytest.fixture(scope="module")
def topology_file() -> Iterator[Path]:
    teardown(PLAN.names)  # a killed earlier run of this module (only the test prefix)
    directory = scratch_dir("shopnet-e2e-hosts-topo-")
    path = directory / "topology.toml"
    path.write_text(TOPOLOGY_TOML)
    yield path


def up_argv(topology: Path) -> list[str]:
    return [
        "--topology",
        str(topology),
        "up",
        "--mode",
        "netns",
        "--hosts",
        "2",
        "--scale",
        "product=2",
    ]


def test_down_converges_after_up_was_killed(topology_file: Path) -> None:
    root = scratch_dir("shopnet-e2e-hosts-kill-")
    argv = [sys.executable, "-m", "shopnet", "--state-dir", str(root), *up_argv(topology_file)]
    up = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:  # killed once the second host and an instance's namespace exist
        deadline = time.monotonic() + 60
        while not namespaces.exists(PLAN.hosts[1].namespace) or not any(
            namespaces.exists(e.namespace) for e in PLAN.endpoints
        ):
            assert up.poll() is None and time.monotonic() < deadline, "up ended or hung"
            time.sleep(0.05)
    finally:
        up.send_signal(signal.SIGKILL)
        up.wait()
    shopnet(root, "--topology", str(topology_file), "down", "--mode", "netns", "--volumes")
    assert nothing_left(root) == []


@pytest.fixture(scope="module")
def stack(topology_file: Path) -> Iterator[Path]:
    root = scratch_dir("shopnet-e2e-hosts-")
    try:
        result = shopnet(root, *up_argv(topology_file))
        assert result.stdout.strip() == f"{DNAT}/api/products"
        assert "2 hosts" in result.stderr
        yield root
    finally:
        shopnet(root, "--topology", str(topology_file), "down", "--volumes", check=False)
        assert nothing_left(root) == []


def run(root: Path, topology: Path, *args: str, check: bool = True):
    return shopnet(root, "--topology", str(topology), *args, check=check)


def test_the_api_answers_through_the_dnat(stack: Path) -> None:
    assert request(f"{DNAT}/api/products/3").body["id"] == 3
    created = request(
        f"{DNAT}/api/orders",
        method="POST",
        body={"customer_id": "c-hosts", "items": [{"product_id": 2, "quantity": 1}]},
        headers=bearer(stack, "netns", "c-hosts"),
    )
    assert created.status == 201, created.body
    # The gateway runs on host 1; the two products on different hosts both answer.
    assert HOST_OF["product-1"] != HOST_OF["product-2"]
    served = {request(f"{DNAT}/api/products/{i}").headers["X-Served-By"] for i in range(1, 7)}
    assert served == {"product-1", "product-2"}
    # Full-size segments cross the underlay too (MTU 1450 inside, 1500 outside).
    pages = [request(f"{DNAT}/api/products?page_size=100") for _ in range(2)]
    assert [len(page.body["items"]) for page in pages] == [100, 100]
    assert {page.headers["X-Served-By"] for page in pages} == {"product-1", "product-2"}


def test_status_shows_instances_on_both_hosts(stack: Path, topology_file: Path) -> None:
    rows = {r["instance"]: r for r in status(stack, "netns")}
    assert {name: row["host"] for name, row in rows.items()} == HOST_OF
    assert set(HOST_OF.values()) == {"host1", "host2"}
    assert all(row["health"] == "ready" for row in rows.values()), rows
    text = run(stack, topology_file, "status").stdout
    assert text.startswith("# netns stack, wiring routed, discovery registry, 2 hosts")
    assert " HOST " in text.splitlines()[1]


def test_cross_host_flows_follow_the_topology(stack: Path, topology_file: Path) -> None:
    gateway, product1, redis = (PLAN.endpoint(n) for n in ("gateway-1", "product-1", "redis-1"))
    assert gateway.host != product1.host and gateway.host != redis.host
    allowed = run(
        stack, topology_file, "exec", "gateway-1", "--",
        sys.executable, "-c", CONNECT, str(product1.address.ip), "3001", check=False,
    )  # fmt: skip
    assert allowed.returncode == 0, allowed.stderr
    denied = run(
        stack, topology_file, "exec", "gateway-1", "--",
        sys.executable, "-c", CONNECT, str(redis.address.ip), "6379", check=False,
    )  # fmt: skip
    assert denied.returncode != 0 and "timed out" in denied.stderr
    link = run(stack, topology_file, "exec", "product-1", "--", "ip", "-o", "link", "show", "eth0")
    assert " mtu 1450 " in link.stdout
    matrix = run(stack, topology_file, "isolation", check=False)
    print(matrix.stdout)
    assert matrix.returncode == 0 and " 0 unexpected" in matrix.stdout, matrix.stdout
    audit = json.loads(run(stack, topology_file, "audit", "--json").stdout)
    assert {a["instance"] for a in audit} == set(HOST_OF)


def test_vxlan_packets_on_the_underlay(stack: Path, topology_file: Path, tmp_path: Path) -> None:
    stop = threading.Event()

    def traffic() -> None:
        while not stop.is_set():
            request(f"{DNAT}/api/products/1")

    worker = threading.Thread(target=traffic)
    worker.start()
    try:
        out = tmp_path / "underlay.pcap"
        result = run(stack, topology_file, "capture", "underlay", "--seconds", "2", "-o", str(out))
    finally:
        stop.set()
        worker.join()
    print(result.stdout)
    assert ":4789" in result.stdout and "(host1)" in result.stdout and "(host2)" in result.stdout
    refused = run(stack, topology_file, "capture", "frontend", "--seconds", "1", check=False)
    assert refused.returncode != 0 and "capture `underlay`" in refused.stderr
