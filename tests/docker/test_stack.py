"""The whole stack in Docker, end to end through the published port, with three product instances.

One stack for the module (starting one takes ~20 s); tests run in file order and
the one that kills a container comes last. Teardown asserts `down --volumes`
leaves no container, network or volume of ours.
"""

from __future__ import annotations

import dataclasses
import json
import stat
import subprocess
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from ipaddress import IPv4Address
from pathlib import Path

import pytest

from shopnet.errors import PreflightError, StateError
from shopnet.hostnet.netem import kernel_support
from shopnet.hostnet.pcapsummary import summarize
from shopnet.hostnet.ratelimit import Rate
from shopnet.runtime import tokens
from shopnet.runtime.confine import secret_store
from shopnet.runtime.progress import Progress
from shopnet_docker import isolation, links
from shopnet_docker.driver import DockerDriver
from shopnet_docker.engine import Docker
from shopnet_docker.images import BuildReport
from shopnet_docker.settings import SERVICE_UID
from shopnet_docker.stack import Container
from tests.docker import privilege
from tests.docker.conftest import leftovers
from tests.docker.helpers import (
    OUTSIDE_PORT,
    TEST_PREFIX,
    admin,
    clear_own_leftovers,
    free_subnets,
    http,
    isolated_topology,
    outside_world,
    probe,
    wait_until,
)
from tests.e2e.edge import (
    assert_admin_only_on_the_admin_listener,
    assert_reservations_need_the_token,
    assert_the_gateway_answers_oversized_heads_itself,
    assert_token_file_is_private,
    assert_who_may_do_what,
    forge_argv,
)
from tests.support import throughput
from tests.support.servers import free_port

pytestmark = [pytest.mark.docker, pytest.mark.slow]

PRODUCTS = 3


@pytest.fixture(scope="module")
def compat_port() -> int:
    return free_port()


@pytest.fixture(scope="module")
def stack(
    docker: Docker, images: BuildReport, compat_port: int, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DockerDriver]:
    with pytest.MonkeyPatch.context() as env:
        env.setenv("SHOPNET_COMPAT_PORT", str(compat_port))
        driver = DockerDriver(
            topology=isolated_topology(),
            root=tmp_path_factory.mktemp("docker-state"),
            progress=Progress(quiet=True),
        )
        try:
            clear_own_leftovers(driver)
            driver.up(scale={"product": PRODUCTS})
            yield driver
        finally:
            result = driver.down(volumes=True)
            assert result.problems == ()  # incl. no container killed at the end of its grace
            stopped = [r for r in result.removed if ", stopped in " in r]
            assert len(stopped) == 4 + PRODUCTS, result.removed  # all but product-2 (killed)
            assert leftovers(docker, TEST_PREFIX) == []
            assert not driver.layout.state_file.exists()


def containers(stack: DockerDriver) -> dict[str, Container]:
    return {c.instance: c for c in stack.stack.containers()}


def pids(stack: DockerDriver, docker: Docker) -> list[int]:
    return [
        int(docker.run("inspect", "-f", "{{.State.Pid}}", c.name, what="pid").stdout)
        for c in stack.stack.containers()
    ]


def test_every_instance_is_ready_at_its_address(stack: DockerDriver) -> None:
    rows = stack.status()
    assert [r.instance for r in rows] == [
        "postgres-1", "redis-1", "registry-1", "product-1", "product-2", "product-3",
        "order-1", "gateway-1",
    ]  # fmt: skip
    assert {r.instance: r.health for r in rows} == {r.instance: "ready" for r in rows}
    topology = stack.topology
    by_instance = {r.instance: r for r in rows}
    for instance in topology.plan({"product": PRODUCTS}):
        row = by_instance[instance.name]
        address, port = row.address.rsplit(":", 1)
        assert int(port) == instance.port
        if instance.service.scalable:  # Docker picks them, from the tier's upper half
            assert IPv4Address(address) in instance.tier.dynamic_range
        else:  # the model's static address
            assert IPv4Address(address) == instance.address
    assert all(r.cpu_percent is not None and r.memory_mb for r in rows)
    assert all(r.where.startswith(f"{TEST_PREFIX}") for r in rows)
    # Health alone (what validate, the labs and chaos poll): the same rows, no `docker stats`.
    quick = stack.status(usage=False)
    assert [(r.instance, r.health, r.pid) for r in quick] == [
        (r.instance, r.health, r.pid) for r in rows
    ]
    assert all(r.cpu_percent is None and r.memory_mb is None for r in quick)


def test_products_and_orders_through_the_published_port(stack: DockerDriver) -> None:
    url = stack.gateway_url
    assert url == f"http://127.0.0.1:{stack.topology.published_port}"
    page = http("GET", f"{url}/api/products?page_size=5")
    assert page.status == 200
    assert [p["id"] for p in page.body["items"]] == [1, 2, 3, 4, 5]
    assert http("GET", f"{url}/api/products/4").body["id"] == 4
    customer = f"e2e-{uuid.uuid4().hex[:8]}"
    as_customer = {
        "Authorization": "Bearer " + tokens.token(secret_store(stack.layout), customer=customer)
    }
    created = http(
        "POST",
        f"{url}/api/orders",
        {"customer_id": customer, "items": [{"product_id": 4, "quantity": 2}]},
        headers=as_customer,
    )
    assert created.status == 201, created.body
    assert created.body["total_cents"] == 2 * page.body["items"][3]["price_cents"]
    listed = http("GET", f"{url}/api/orders?customer_id={customer}", headers=as_customer)
    assert [o["id"] for o in listed.body["items"]] == [created.body["id"]]
    bad = http(
        "POST", f"{url}/api/orders", {"customer_id": customer, "items": []}, headers=as_customer
    )
    assert bad.status == 400
    assert bad.body["error"]["code"] == "validation_failed"


def test_who_may_do_what(stack: DockerDriver) -> None:
    store = secret_store(stack.layout)
    assert_who_may_do_what(
        stack.gateway_url,
        lambda customer: {"Authorization": "Bearer " + tokens.token(store, customer=customer)},
    )


def test_the_gateway_is_also_published_on_the_compat_port(
    stack: DockerDriver, compat_port: int
) -> None:
    reply = http("GET", f"http://127.0.0.1:{compat_port}/api/products?page_size=1")
    assert reply.status == 200
    assert len(reply.body["items"]) == 1


def test_three_products_registered_and_balanced_round_robin(stack: DockerDriver) -> None:
    registry = containers(stack)["registry-1"]
    catalog = http("GET", f"http://{registry.addresses['backend']}:8500/v1/services").body
    assert catalog["services"]["product"]["passing"] == PRODUCTS
    served = [
        http("GET", f"{stack.gateway_url}/api/products/1").headers["X-Served-By"]
        for _ in range(10 * PRODUCTS)
    ]
    counts = Counter(served)
    assert len(counts) == PRODUCTS
    assert set(counts.values()) == {10}  # strict round robin: each instance every third time
    hostnames = {c.id[:12] for c in stack.stack.containers() if c.service == "product"}
    assert {s.split("-")[1] for s in counts} == hostnames


def test_the_admin_listener_is_not_published(stack: DockerDriver) -> None:
    gateway = containers(stack)["gateway-1"].addresses["frontend"]
    assert_admin_only_on_the_admin_listener(stack.gateway_url, f"http://{gateway}:9080")
    assert_the_gateway_answers_oversized_heads_itself(stack.gateway_url)


def test_the_registry_refuses_forged_registrations(stack: DockerDriver, docker: Docker) -> None:
    """From the host (on the backend bridge, x.x.x.1): the token file is the key, the
    registration secret the identity, and the registry sees real source addresses
    (Docker does not NAT between a bridge's members), so spoofing one is refused."""
    secrets = stack.layout.data / "secrets"
    token_file = secrets / "product" / "registry-token"  # product's own: product instances only
    for service in ("product", "order", "gateway"):
        assert_token_file_is_private(secrets / service / "registry-token", pids(stack, docker))
    c = containers(stack)
    registry = f"http://{c['registry-1'].addresses['backend']}:8500"
    host = str(stack.topology.tier("backend").host_address)
    order = c["order-1"].addresses["backend"]
    listed = http("GET", f"{registry}/v1/services/order").body["instances"]
    real = [(i["id"], i["address"]) for i in listed]
    assert [address for _, address in real] == [order]
    path = f"/v1/instances/{real[0][0]}"  # compose names instances <service>-<host>-<port>
    forged = {"service": "order", "address": host, "port": 3002}
    as_product = {**forged, "service": "product"}
    attempts = [
        ("PUT", path, forged, False),  # no token
        ("PUT", path, forged, True),  # another service's instance
        ("PUT", f"{path}/heartbeat", None, True),
        ("DELETE", path, None, True),
        ("PUT", "/v1/instances/order-9", forged, True),  # another service, from its address
        ("PUT", "/v1/instances/gateway-9", {**forged, "service": "gateway"}, True),
        ("PUT", "/v1/instances/product-9", {**as_product, "address": order}, True),  # spoofed
    ]
    result = subprocess.run(
        forge_argv(registry, token_file, attempts), capture_output=True, text=True, check=True
    )
    assert json.loads(result.stdout) == [401, 403, 403, 403, 403, 403, 403]
    instances = http("GET", f"{registry}/v1/services/order").body["instances"]
    assert [(i["id"], i["address"]) for i in instances] == real


def test_reservations_need_the_internal_token(stack: DockerDriver, docker: Docker) -> None:
    product = containers(stack)["product-1"].addresses["backend"]
    token_file = stack.layout.data / "secrets" / "product" / "internal-callers"
    assert_reservations_need_the_token(f"http://{product}:3001", token_file, pids(stack, docker))


def test_datastores_grant_each_service_only_its_own(stack: DockerDriver, docker: Docker) -> None:
    """From inside product-1 and order-1, with their own mounted credentials."""
    c = containers(stack)
    from_product = privilege.probe(
        docker,
        c["product-1"].name,
        ["SELECT 1 FROM products.products LIMIT 1", "SELECT 1 FROM orders.orders LIMIT 1",
         "CREATE TABLE public.planted (x int)", "COPY (SELECT 1) TO PROGRAM 'true'"],
    )  # fmt: skip
    assert from_product == {
        "redis anonymous GET": "AuthenticationError",
        "redis own prefix SET": "ok",
        "redis other key GET": "NoPermissionError",
        "redis CONFIG GET": "NoPermissionError",
        "redis FLUSHALL": "NoPermissionError",
        "SELECT 1 FROM products.products LIMIT 1": "ok",
        "SELECT 1 FROM orders.orders LIMIT 1": "InsufficientPrivilegeError",
        "CREATE TABLE public.planted (x int)": "InsufficientPrivilegeError",
        "COPY (SELECT 1) TO PROGRAM 'true'": "InsufficientPrivilegeError",
    }
    from_order = privilege.probe(
        docker,
        c["order-1"].name,
        ["SELECT 1 FROM orders.orders LIMIT 1", "UPDATE products.products SET stock = stock"],
    )
    assert from_order == {
        "SELECT 1 FROM orders.orders LIMIT 1": "ok",
        "UPDATE products.products SET stock = stock": "InsufficientPrivilegeError",
    }
    # No service holds a superuser session: every client connection is a service's own role.
    out = docker.run(
        "exec", c["postgres-1"].name, "psql", "-X", "-At", "-h", "/tmp", "-U", "shopnet",
        "-d", "shopnet", "-c",
        "SELECT DISTINCT usename FROM pg_stat_activity"
        " WHERE backend_type = 'client backend' AND client_addr IS NOT NULL",
        what="listing sessions",
    )  # fmt: skip
    assert set(out.stdout.split()) == {"product_app", "order_app"}


def test_secrets_are_private_files_never_environment_or_argv(
    stack: DockerDriver, docker: Docker
) -> None:
    files = [p for p in (stack.layout.data / "secrets").rglob("*") if p.is_file()]
    files += [stack.layout.data / "db-password"]
    owners = {p.relative_to(stack.layout.data).parts[1:2]: p.stat().st_uid for p in files}
    assert owners[("product",)] == owners[("order",)] == SERVICE_UID
    assert owners[("redis",)] not in {0, SERVICE_UID} and owners[("postgres",)] != 0
    assert owners[("runtime",)] == 0  # the Redis admin's password stays on the host
    assert all(p.stat().st_mode & 0o777 == 0o600 for p in files)
    values = [p.read_text().strip() for p in files if p.suffix not in {".sql", ".acl"}]
    assert len(values) >= 8 and all(len(v) >= 16 for v in values)
    inspected = docker.run(
        "inspect", *(c.name for c in stack.stack.containers()), what="inspecting"
    ).stdout
    for c in json.loads(inspected):
        shown = json.dumps([c["Config"]["Env"], c["Config"]["Cmd"], c["Path"], c["Args"]])
        assert not any(v in shown for v in values), c["Name"]
        assert "PASSWORD=" not in shown, c["Name"]
    argv = stack.docker.compose_argv(stack.compose_file, stack.project, "up", "-d")
    seen = " ".join(argv) + stack.compose_file.read_text() + stack.compose_log.read_text()
    seen += json.dumps([dataclasses.asdict(r) for r in stack.status()], default=str)
    assert not any(v in seen for v in values)


def test_every_file_under_the_state_directory_is_private(stack: DockerDriver) -> None:
    """0600 files (compose.log, compose.yaml, image-users.json and the secrets included) in
    0700 directories; the state and data directories 0711 (passable, not listable)."""
    base = stack.layout.dir
    passable = {base, stack.layout.data, stack.layout.data / "secrets"}
    loose = []
    for path in [base, *base.rglob("*")]:
        st = path.lstat()
        allowed = ({0o700, 0o711} if path in passable else {0o700}) if path.is_dir() else {0o600}
        if stat.S_IMODE(st.st_mode) not in allowed:
            loose.append(f"{path} {oct(stat.S_IMODE(st.st_mode))}")
    assert not loose
    assert {"compose.log", "image-users.json"} <= {p.name for p in base.iterdir()}


def test_isolation_matrix_from_the_model(stack: DockerDriver, docker: Docker) -> None:
    """Run inside the containers: allowed flows connect; a tier a container is not on is
    unreachable. Docker isolates networks, not flows: a pair sharing a network connects
    even without a flow (the netns mode's firewall is what enforces flows)."""
    text, ok = stack.isolation()
    print(text)
    cells = {
        (c.source, c.target): c
        for c in isolation.matrix(docker, stack.topology, stack.stack.containers())
    }
    wrong = [f"{c.source} → {c.target}: {c.outcome}" for c in cells.values() if not c.ok]
    assert ok and "0 unexpected" in text, text
    assert cells[("gateway", "postgres")].outcome in {"timeout", "unreachable"}
    assert cells[("gateway", "redis")].outcome in {"timeout", "unreachable"}
    assert (
        cells[("product", "redis")].outcome == "open"
        and cells[("product", "redis")].reason == "flow"
    )
    # Docker isolates networks, not flows: the registry reaches a product though no flow says so.
    assert cells[("registry", "product")].reason == "shared"
    assert wrong == []
    # Names follow the networks too: the gateway cannot even resolve the database.
    first = {c.service: c for c in stack.stack.containers() if c.number == 1}
    resolve = "import socket, sys; socket.gethostbyname(sys.argv[1])"
    for service, name, resolvable in (
        ("gateway", "postgres", False),
        ("product", "postgres", True),
    ):
        out = docker.run(
            "exec", first[service].name, "python3", "-c", resolve, name, what="dns", check=False
        )
        assert (out.returncode == 0) is resolvable, (service, name, out.stderr)


def test_only_the_gateway_has_a_route_out(stack: DockerDriver, docker: Docker) -> None:
    """A listener beyond the host answers the gateway (the frontend tier, its public leg)
    but no container that is on internal networks only: not the datastores, and not the
    product, order or registry containers either (no LAN, internet or metadata address).

    (Docker 20.10 still gives containers of an internal network a default route; what
    cuts them off is its DROP rule for anything leaving the network's subnet.)
    """
    by_service = {c.service: c for c in stack.stack.containers() if c.number == 1}
    with outside_world(free_subnets(1)[0]) as outside:
        target = f"{outside}:{OUTSIDE_PORT}"
        assert probe(docker, by_service["gateway"].name, [(outside, OUTSIDE_PORT)]) == {
            target: "open"
        }
        for service in ("registry", "product", "order", "postgres", "redis"):
            got = probe(docker, by_service[service].name, [(outside, OUTSIDE_PORT)])[target]
            assert got in {"timeout", "unreachable"}, (service, got)
            print(f"{service} → outside: {got}")  # for the record (-s)


def _traffic(url: str, stop: threading.Event) -> None:
    while not stop.is_set():
        http("GET", url, timeout=5)
        time.sleep(0.05)


def test_published_traffic_enters_through_the_frontend_tier(
    stack: DockerDriver, tmp_path: Path
) -> None:
    """Docker routes a multi-homed container through the network whose name sorts first;
    the compose file names networks in tier order so clients reach the gateway on frontend."""
    gateway = containers(stack)["gateway-1"]
    frontend = stack.topology.tier("frontend")
    stop = threading.Event()
    sender = threading.Thread(
        target=_traffic, args=(f"{stack.gateway_url}/api/products/2", stop), daemon=True
    )
    sender.start()
    try:
        text = stack.capture("frontend", count=None, seconds=1.5, output=tmp_path / "fe.pcap")
    finally:
        stop.set()
        sender.join()
    flows = summarize(tmp_path / "fe.pcap").flow_packets
    into_gateway = {
        (k.source, k.destination)
        for k in flows
        if k.destination_port == gateway_port(stack) and k.protocol == "tcp"
    }
    assert (str(frontend.host_address), gateway.addresses["frontend"]) in into_gateway
    assert "(gateway-1)" in text and "(host)" in text
    routes = stack.docker.run("exec", gateway.name, "cat", "/proc/net/route", what="routes")
    default = [r.split()[0] for r in routes.stdout.splitlines()[1:] if r.split()[1] == "00000000"]
    frontend_if = links.links([gateway], "frontend")[0].inside
    assert default == [frontend_if]


def gateway_port(stack: DockerDriver) -> int:
    return stack.topology.service("gateway").port


def test_capture_on_the_backend_shows_the_gateway_calling_products(
    stack: DockerDriver, tmp_path: Path
) -> None:
    stop = threading.Event()
    sender = threading.Thread(
        target=_traffic, args=(f"{stack.gateway_url}/api/products/3", stop), daemon=True
    )
    sender.start()
    try:
        stack.capture("backend", count=None, seconds=1.5, output=tmp_path / "be.pcap")
    finally:
        stop.set()
        sender.join()
    gateway = containers(stack)["gateway-1"].addresses["backend"]
    products = {c.addresses["backend"] for c in stack.stack.containers() if c.service == "product"}
    called = {
        k.destination
        for k in summarize(tmp_path / "be.pcap").flow_packets
        if k.source == gateway and k.destination_port == 3001
    }
    assert called and called <= products


def test_veths_of_a_tier_are_ports_of_its_bridge(stack: DockerDriver) -> None:
    backend = next(n for n in stack.stack.networks() if n.tier == "backend")
    found = links.links(stack.stack.containers(), "backend")
    assert sorted(link.container.instance for link in found) == [
        "gateway-1", "order-1", "product-1", "product-2", "product-3", "registry-1"
    ]  # fmt: skip
    for link in found:
        master = Path("/sys/class/net", link.host, "master").resolve().name
        assert master == backend.bridge
    assert backend.bridge == f"{TEST_PREFIX}d-backend"


@pytest.mark.skipif(kernel_support() is None, reason="this kernel has netem")
def test_netem_without_kernel_support_is_a_clear_error(stack: DockerDriver) -> None:
    with pytest.raises(PreflightError, match="no netem qdisc"):
        stack.netem("backend", delay_ms=20, loss_pct=0, clear=False)
    kinds = links.root_qdiscs(links.links(stack.stack.containers(), "backend"))
    assert "netem" not in kinds.values()
    assert stack.netem("backend", delay_ms=0, loss_pct=0, clear=True).endswith("0 interfaces")


@pytest.mark.skipif(kernel_support() is not None, reason="this kernel has no netem qdisc")
def test_netem_shapes_both_ends_of_every_veth_and_clears(stack: DockerDriver) -> None:
    found = links.links(stack.stack.containers(), "backend")
    message = stack.netem("backend", delay_ms=30, loss_pct=0, clear=False)
    try:
        assert f"on {2 * len(found)} interfaces" in message
        assert set(links.root_qdiscs(found).values()) == {"netem"}
        registry = containers(stack)["registry-1"].addresses["backend"]
        started = time.monotonic()
        http("GET", f"http://{registry}:8500/health")  # host → registry: crosses one veth
        assert time.monotonic() - started >= 0.06  # 30 ms each way, SYN and request
    finally:
        stack.netem("backend", delay_ms=0, loss_pct=0, clear=True)
    assert "netem" not in links.root_qdiscs(found).values()


def test_rate_limits_what_reaches_a_container_and_clear_lifts_it(stack: DockerDriver) -> None:
    rate = Rate.parse("8mbit")  # 1 MB/s
    found = links.links(stack.stack.containers(), "backend")
    registry = containers(stack)["registry-1"]
    address = registry.addresses["backend"]
    before = throughput.into(registry.pid, address, 0.5)
    message = stack.netem("backend", delay_ms=0, loss_pct=0, clear=False, rate=rate)
    try:
        assert f"by tbf on {2 * len(found)} interfaces" in message
        assert set(links.root_qdiscs(found).values()) == {"tbf"}
        limited = throughput.into(registry.pid, address, 2.0)  # host → registry: its veth
    finally:
        cleared = stack.netem("backend", delay_ms=0, loss_pct=0, clear=True)
    after = throughput.into(registry.pid, address, 0.5)
    print(f"\nhost → registry-1: {before / 1e6:.1f} MB/s, at {rate.describe()} "
          f"{limited / 1e6:.2f} MB/s, cleared {after / 1e6:.1f} MB/s")  # fmt: skip
    assert f"removed from {2 * len(found)} interfaces" in cleared
    assert "tbf" not in links.root_qdiscs(found).values()
    assert 0.5 * rate.bytes_per_second < limited <= rate.bytes_per_second * 1.1 + rate.burst_bytes
    assert before > 10 * rate.bytes_per_second and after > 10 * rate.bytes_per_second


def test_exec_and_logs(stack: DockerDriver, capfd: pytest.CaptureFixture[str]) -> None:
    assert stack.exec("registry-1", ["true"]) == 0
    assert stack.exec("registry-1", ["sh", "-c", "exit 7"]) == 7
    with pytest.raises(StateError, match=r"instances: .*product-3"):
        stack.exec("cart-1", ["true"])
    capfd.readouterr()
    assert stack.logs("registry-1", follow=False) == 0
    assert '"service":"registry"' in capfd.readouterr().err


def test_up_again_is_refused_while_the_stack_runs(stack: DockerDriver) -> None:
    with pytest.raises(StateError, match="already running"):
        stack.up(scale={})
    assert len(stack.stack.containers()) == 5 + PRODUCTS


def test_backup_then_restore_brings_back_every_order(stack: DockerDriver, tmp_path: Path) -> None:
    url = stack.gateway_url
    customer = f"backup-{uuid.uuid4().hex[:8]}"
    as_admin = admin(stack)

    def order(product: int) -> str:
        reply = http(
            "POST",
            f"{url}/api/orders",
            {"customer_id": customer, "items": [{"product_id": product, "quantity": 1}]},
            headers=as_admin,
        )
        assert reply.status == 201, reply.body
        return reply.body["id"]

    def orders() -> set[str]:
        return {
            o["id"]
            for o in http("GET", f"{url}/api/orders?customer_id={customer}", headers=as_admin).body[
                "items"
            ]
        }

    kept = {order(p) for p in (5, 6, 7)}
    dump = tmp_path / "shop.sql"
    assert "backed up schemas products, orders" in stack.backup(dump)
    assert b"CREATE TABLE" in dump.read_bytes()
    assert not dump.with_name("shop.sql.partial").exists()
    later = order(8)
    assert orders() == kept | {later}
    assert stack.restore(dump).endswith("product cache flushed")
    assert orders() == kept


def test_a_crashed_instance_is_restarted_and_status_counts_it(stack: DockerDriver) -> None:
    """kill -9 of product-3's service process (docker-init's child): Docker restarts the
    container, and `status` shows one restart and the exit status of the crash."""
    before = containers(stack)["product-3"]
    service_pid = subprocess.run(
        ["ps", "-o", "pid=", "--ppid", str(before.pid)], capture_output=True, text=True, check=True
    ).stdout.split()[0]
    subprocess.run(["kill", "-9", service_pid], check=True)

    def back() -> bool:
        row = next(r for r in stack.status() if r.instance == "product-3")
        return row.health == "ready" and row.restarts == before.restarts + 1

    wait_until(back, timeout=60, what="product-3 restarted and ready", interval=1.0)
    row = next(r for r in stack.status() if r.instance == "product-3")
    assert row.last_exit == "exit 137"  # docker-init passes on its child's SIGKILL


def test_gateway_keeps_answering_when_a_product_container_dies(
    stack: DockerDriver, docker: Docker
) -> None:
    """Last: kills product-2. Retries move each request on; ejection stops the tries."""
    victim = containers(stack)["product-2"]
    docker.run("kill", victim.name, what="killing product-2")
    wait_until(
        lambda: not containers(stack)["product-2"].running, timeout=10, what="product-2 dead"
    )
    replies = [http("GET", f"{stack.gateway_url}/api/products/9") for _ in range(40)]
    assert [r.status for r in replies] == [200] * 40
    served = Counter(r.headers["X-Served-By"] for r in replies)
    assert len(served) == PRODUCTS - 1
    assert not any(victim.id[:12] in s for s in served)
    health = {r.instance: r.health for r in stack.status()}
    assert health["product-2"] == "down"
    assert health["gateway-1"] in {"ready", "degraded"}


@pytest.mark.skipif(kernel_support() is None, reason="this kernel has netem")
def test_loss_without_netem_uses_nftables_and_down_removes_it(stack: DockerDriver) -> None:
    table = f"{stack.project}_impair_backend"
    message = stack.netem("backend", delay_ms=0, loss_pct=30, clear=False)
    assert "loss 30% per direction by nftables" in message
    assert table in subprocess.run(["nft", "list", "tables"], capture_output=True, text=True).stdout
    assert stack.netem("backend", delay_ms=0, loss_pct=0, clear=True).endswith("and the loss table")
    stack.netem("database", delay_ms=0, loss_pct=5, clear=False)
    assert stack._remove_loss_tables() == [f"nftables table inet {stack.project}_impair_database"]
    assert (
        "_impair_"
        not in subprocess.run(["nft", "list", "tables"], capture_output=True, text=True).stdout
    )
