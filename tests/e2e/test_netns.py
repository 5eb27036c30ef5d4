"""netns mode end to end, as root: real namespaces, bridges, nftables, Redis and PostgreSQL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from shopnet.runtime.ports import host_address
from shopnet.topology import default_topology
from shopnet_netns import NetworkPlan, discover, netem
from tests.e2e.edge import (
    assert_admin_only_on_the_admin_listener,
    assert_reservations_need_the_token,
    assert_the_gateway_answers_oversized_heads_itself,
    assert_token_file_is_private,
    assert_who_may_do_what,
    forge_argv,
    raw_get,
)
from tests.netns.helpers import iptables_save, without
from tests.netns.helpers import leftovers as network_leftovers
from tests.netns.test_beside_docker import dockerd  # noqa: F401 - fixture: a running dockerd
from tests.support.servers import scratch_dir
from tests.support.stack import (
    bearer,
    leftovers,
    request,
    require_default_resources,
    shopnet,
    status,
)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="netns mode needs root"),
]

DNAT = "http://127.0.0.1:8080"
DIRECT = "http://172.20.0.10:3000"
CLEAN = {"records": [], "tagged": [], "state": False}


def nothing_left(root: Path) -> list[str]:
    """Everything of ours that still exists, as our inventory and the system's tools see it."""
    plan = NetworkPlan.from_topology(default_topology(), {"product": 10, "order": 10})
    found = list(discover(plan.names).lines()) + network_leftovers(plan)
    left = leftovers(root, "netns")
    found += [f"process {name}" for name in left["records"] + left["tagged"]]
    if left["state"]:
        found.append("state file")
    return found


@pytest.fixture(scope="module")
def root() -> Iterator[Path]:
    require_default_resources("netns")
    path = scratch_dir("shopnet-e2e-netns-")
    yield path
    shopnet(path, "down", "--mode", "netns", "--volumes", check=False)


@pytest.fixture(scope="module")
def stack(root: Path) -> Path:
    result = shopnet(root, "up", "--mode", "netns", "--scale", "product=3")
    assert result.stdout.strip() == f"{DNAT}/api/products"
    return root


@pytest.mark.parametrize("base", [DNAT, DIRECT, "host"])
def test_products_through_dnat_direct_and_the_host_address(stack: Path, base: str) -> None:
    if base == "host":
        base = f"http://{host_address()}:8080"
    resp = request(f"{base}/api/products?page=2&page_size=3")
    assert resp.status == 200, resp.body
    assert [p["id"] for p in resp.body["items"]] == [4, 5, 6]
    assert resp.body["total"] >= 1000


def test_an_order_is_created_and_read_back(stack: Path) -> None:
    price = request(f"{DNAT}/api/products/2").body["price_cents"]
    created = request(
        f"{DNAT}/api/orders",
        method="POST",
        body={"customer_id": "c-netns", "items": [{"product_id": 2, "quantity": 3}]},
        headers=(customer := bearer(stack, "netns", "c-netns")),
    )
    assert created.status == 201, created.body
    assert created.body["total_cents"] == 3 * price
    read = request(f"{DIRECT}/api/orders/{created.body['id']}", headers=customer)
    assert read.body == created.body


def test_who_may_do_what(stack: Path) -> None:
    assert_who_may_do_what(DNAT, lambda customer: bearer(stack, "netns", customer))


def test_three_product_instances_take_turns(stack: Path) -> None:
    served = [request(f"{DNAT}/api/products/{i}").headers["X-Served-By"] for i in range(1, 10)]
    assert len(set(served)) == 3 and served[:3] == served[3:6] == served[6:9], served


def test_isolation_matrix_from_the_topology(stack: Path) -> None:
    result = shopnet(stack, "isolation", "--mode", "netns", check=False)
    print(result.stdout)
    assert result.returncode == 0, result.stdout
    assert "0 unexpected" in result.stdout
    rows = {
        line.split()[0]: line
        for line in result.stdout.splitlines()
        if line.startswith(("gateway-1", "redis-1"))
    }
    assert (
        "5432" not in rows["gateway-1"] and "6379" not in rows["gateway-1"]
    )  # gateway ↛ datastores
    assert rows["redis-1"].split()[-1:] == ["route"]  # database tier: no route out


def test_status_shows_namespaces_sockets_and_usage(stack: Path) -> None:
    rows = {r["instance"]: r for r in status(stack, "netns")}
    # postgres, redis, registry, three products, order, gateway — and nothing else
    assert len(rows) == 8
    gateway = rows["gateway-1"]
    assert gateway["where"] == "shopnet-gateway-1"
    assert gateway["address"] == "172.20.0.10:3000"
    assert "0.0.0.0:3000" in gateway["listening"]
    assert gateway["health"] == "ready"
    assert gateway["memory_mb"] > 5 and gateway["cpu_percent"] is not None


def test_the_admin_listener_answers_the_host_only(stack: Path) -> None:
    assert_admin_only_on_the_admin_listener(DNAT, "http://172.20.0.10:9080")
    assert_admin_only_on_the_admin_listener(DIRECT, "http://172.20.0.10:9080")
    assert_the_gateway_answers_oversized_heads_itself(DNAT)
    with pytest.raises(OSError):  # not published: nothing on the host's own port 9080
        raw_get(f"http://{host_address()}:9080/metrics")
    probe = "import socket; socket.create_connection(('172.20.0.10', 9080), timeout=2)"
    for instance in ("product-1", "order-1"):
        result = shopnet(stack, "exec", instance, "--", sys.executable, "-c", probe, check=False)
        assert result.returncode != 0, instance  # the firewall drops it


def test_the_registry_refuses_forgeries_from_inside_the_testbed(stack: Path) -> None:
    secrets = stack / "netns" / "data" / "secrets"
    token_file = secrets / "product" / "registry-token"  # product's own: product instances only
    pids = [r["pid"] for r in status(stack, "netns") if r["pid"]]
    for service in ("product", "order", "gateway"):
        assert_token_file_is_private(secrets / service / "registry-token", pids)
    registry = "http://172.21.0.10:8500"
    order = {"service": "order", "address": "172.21.0.20", "port": 3002}
    product = {**order, "service": "product"}
    from_product = [
        ("PUT", "/v1/instances/order-1", order, False),  # no token
        ("PUT", "/v1/instances/order-1", order, True),  # another service's instance
        ("PUT", "/v1/instances/order-1/heartbeat", None, True),
        ("DELETE", "/v1/instances/order-1", None, True),
        ("PUT", "/v1/instances/order-9", order, True),  # another service, from its own address
        ("PUT", "/v1/instances/product-1", product, True),  # its own service: not its identity
        ("PUT", "/v1/instances/product-9", {**product, "address": "172.21.0.40"}, True),  # spoofed
        ("PUT", "/v1/instances/product-9", {**product, "address": "169.254.169.254"}, True),
    ]
    result = shopnet(
        stack, "exec", "product-1", "--", *forge_argv(registry, token_file, from_product)
    )
    assert json.loads(result.stdout) == [401, 403, 403, 403, 403, 409, 403, 400]
    # The gateway's token writes `gateway` only: not product, not order, from its own address.
    gateway_token = secrets / "gateway" / "registry-token"
    foreign = [
        ("PUT", "/v1/instances/product-9", {**product, "address": "172.20.0.10"}, True),
        ("PUT", "/v1/instances/order-9", {**order, "address": "172.20.0.10"}, True),
    ]
    result = shopnet(
        stack, "exec", "gateway-1", "--", *forge_argv(registry, gateway_token, foreign)
    )
    assert json.loads(result.stdout) == [403, 403]
    instances = request(f"{registry}/v1/services/order").body["instances"]
    assert [(i["id"], i["address"], i["port"]) for i in instances] == [
        ("order-1", "172.21.0.40", 3002)
    ]
    served = request(f"{DNAT}/api/orders?customer_id=nobody", headers=bearer(stack, "netns"))
    assert served.headers["X-Served-By"] == "order-1"


def test_reservations_need_the_internal_token(stack: Path) -> None:
    token_file = stack / "netns" / "data" / "secrets" / "product" / "internal-callers"
    pids = [r["pid"] for r in status(stack, "netns") if r["pid"]]
    assert_reservations_need_the_token("http://172.21.0.20:3001", token_file, pids)


def test_exec_runs_inside_the_namespace(stack: Path) -> None:
    result = shopnet(stack, "exec", "product-2", "--", "ip", "-4", "-o", "addr", "show", "eth0")
    assert "172.21.0.21/24" in result.stdout


def test_logs_are_json_lines(stack: Path) -> None:
    result = shopnet(stack, "logs", "gateway-1")
    assert '"msg":"listening"' in result.stdout
    missing = shopnet(stack, "logs", "nobody-1", check=False)
    assert missing.returncode == 4 and "instances:" in missing.stderr


def test_backup_and_restore_keep_every_order(stack: Path, tmp_path: Path) -> None:
    admin = bearer(stack, "netns")

    def order(customer: str) -> str:
        resp = request(
            f"{DNAT}/api/orders",
            method="POST",
            body={"customer_id": customer, "items": [{"product_id": 7, "quantity": 1}]},
            headers=admin,
        )
        assert resp.status == 201
        return resp.body["id"]

    kept = [order("c-backup") for _ in range(3)]
    dump = tmp_path / "shopnet.sql"
    shopnet(stack, "backup", str(dump))
    later = order("c-backup")
    shopnet(stack, "restore", str(dump))
    ids = {
        o["id"]
        for o in request(
            f"{DNAT}/api/orders?customer_id=c-backup&page_size=100", headers=admin
        ).body["items"]
    }
    assert set(kept) <= ids and later not in ids
    bad = tmp_path / "bad.sql"
    bad.write_text("this is not SQL;\n")
    failed = shopnet(stack, "restore", str(bad), check=False)
    assert failed.returncode == 5 and "database unchanged" in failed.stderr
    assert set(kept) <= {
        o["id"]
        for o in request(f"{DNAT}/api/orders?customer_id=c-backup", headers=admin).body["items"]
    }


def test_capture_writes_a_pcap_and_a_summary(stack: Path, tmp_path: Path) -> None:
    pcap = tmp_path / "backend.pcap"
    traffic = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import time, urllib.request\nfor i in range(40):\n    urllib.request.urlopen('{DIRECT}/api/products/1').read(); time.sleep(0.05)",
        ]
    )
    try:
        result = shopnet(stack, "capture", "backend", "--count", "20", "-o", str(pcap), timeout=60)
    finally:
        traffic.wait(timeout=30)
    assert pcap.stat().st_size > 24  # pcap header plus packets
    assert "product-" in result.stdout and "packets" in result.stdout


def test_netem_shapes_a_tier_or_says_why_it_cannot(stack: Path) -> None:
    result = shopnet(stack, "netem", "backend", "--delay", "20", check=False)
    if netem.kernel_support() is None:
        assert result.returncode == 0, result.stderr
        slow = time.monotonic()
        request(f"{DIRECT}/api/products/1")
        assert time.monotonic() - slow > 0.02
        assert shopnet(stack, "netem", "backend", "--clear").returncode == 0
    else:
        assert result.returncode == 3 and "netem" in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
        # Loss needs no netem: nftables drops the share asked for.
        lossy = shopnet(stack, "netem", "database", "--loss", "30")
        assert "loss 30% per direction by nftables" in lossy.stdout
        cleared = shopnet(stack, "netem", "database", "--clear")
        assert "loss table" in cleared.stdout
        assert request(f"{DNAT}/api/products/1").status == 200


def test_up_twice_is_refused(stack: Path) -> None:
    again = shopnet(stack, "up", "--mode", "netns", check=False)
    assert again.returncode == 4 and "already running" in again.stderr
    assert request(f"{DNAT}/api/products/1").status == 200


def test_gateway_survives_a_product_instance_crash(stack: Path) -> None:
    victim = next(r for r in status(stack, "netns") if r["instance"] == "product-3")
    os.kill(victim["pid"], signal.SIGKILL)
    answers = [request(f"{DNAT}/api/products/{i}") for i in range(1, 31)]
    assert [a.status for a in answers] == [200] * 30


def test_down_leaves_nothing(stack: Path) -> None:
    shopnet(stack, "down", "--mode", "netns")
    assert nothing_left(stack) == []
    assert shopnet(stack, "down", "--mode", "netns").returncode == 0


# -- separate stacks ---------------------------------------------------------


@pytest.mark.parametrize("delay", [0.2, 0.8, 2.5, 4.0])
def test_kill_9_of_up_at_any_point_then_down_converges(delay: float) -> None:
    root = scratch_dir("shopnet-e2e-netns-crash-")
    up = subprocess.Popen(
        [sys.executable, "-m", "shopnet", "--state-dir", str(root), "up", "--mode", "netns"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(delay)
    up.kill()
    up.wait()
    shopnet(root, "down", "--mode", "netns", "--volumes")
    assert nothing_left(root) == []
    if delay == 4.0:  # and the machine is fit for a fresh stack
        shopnet(root, "up", "--mode", "netns")
        assert request(f"{DNAT}/api/products/1").status == 200
        shopnet(root, "down", "--mode", "netns", "--volumes")
        assert nothing_left(root) == []


def test_beside_a_running_docker_rules_are_left_as_they_were(dockerd: None) -> None:  # noqa: F811
    root = scratch_dir("shopnet-e2e-netns-docker-")
    before = iptables_save()
    shopnet(root, "up", "--mode", "netns")
    try:
        during = iptables_save()
        assert "DOCKER-USER" in during and "--comment shopnet" in during
        assert request(f"{DNAT}/api/products/1").status == 200
        assert shopnet(root, "isolation", "--mode", "netns", check=False).returncode == 0
    finally:
        shopnet(root, "down", "--mode", "netns", "--volumes")
    assert without(iptables_save(), "shopnet") == without(before, "shopnet")
    assert nothing_left(root) == []


def test_scale_zero_is_refused_before_anything_exists() -> None:
    root = scratch_dir("shopnet-e2e-netns-bad-")
    result = shopnet(root, "up", "--mode", "netns", "--scale", "product=0", check=False)
    assert result.returncode == 2 and "product takes 1 to 10" in result.stderr
    assert nothing_left(root) == []


def test_a_subnet_collision_is_named_and_nothing_is_created() -> None:
    root = scratch_dir("shopnet-e2e-netns-collide-")
    subprocess.run(
        ["ip", "link", "add", "sncollide0", "type", "veth", "peer", "name", "sncollide1"],
        check=True,
    )
    try:
        subprocess.run(["ip", "addr", "add", "172.21.0.200/24", "dev", "sncollide0"], check=True)
        result = shopnet(root, "up", "--mode", "netns", check=False)
    finally:
        subprocess.run(["ip", "link", "del", "sncollide0"], check=False)
    assert result.returncode == 3, result.stderr
    assert "172.21.0.0/24" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert nothing_left(root) == []
