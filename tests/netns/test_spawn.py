"""A real process started inside an instance's namespace and cgroups, reachable as the
firewall allows, found by `pids_in`, and stopped by teardown."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from shopnet.errors import DriverError
from shopnet.runtime import process
from shopnet.topology import default_topology
from shopnet_netns import NetworkPlan, cgroups, enter_instance, namespaces, pids_in, teardown
from shopnet_netns.names import Names
from tests.netns.helpers import root_only

pytestmark = root_only

# Echo server: one line back per connection, on the instance's port, all addresses.
ECHO = """
import socket, sys
server = socket.create_server(("0.0.0.0", int(sys.argv[1])))
print("listening", flush=True)
while True:
    conn, _ = server.accept()
    with conn:
        conn.sendall(conn.recv(100))
"""


def connect_from(namespace: str, address: str, port: int, timeout: float) -> socket.socket:
    sock = namespaces.run_in(namespace, lambda: socket.socket(socket.AF_INET, socket.SOCK_STREAM))
    sock.settimeout(timeout)
    try:
        sock.connect((address, port))
    except OSError:
        sock.close()
        raise
    return sock


def wait_listening(address: str, port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection((address, port), timeout=0.5).close()
            return
        except OSError:
            assert time.monotonic() < deadline, f"nothing listens on {address}:{port}"
            time.sleep(0.02)


def test_a_service_runs_inside_its_namespace_and_cgroups(
    network: NetworkPlan, tmp_path: Path
) -> None:
    product = network.endpoint("product-1")
    limits = cgroups.apply(network.names, product.name, product.instance.service)
    assert limits.problems == ()
    spec = process.ProcessSpec(
        instance=product.name,
        argv=(sys.executable, "-c", ECHO, str(product.instance.port)),
        log_path=tmp_path / "echo.log",
    )
    pid = process.spawn(
        spec,
        owner=str(tmp_path),
        pid_dir=tmp_path / "pids",
        enter=enter_instance(product.namespace, limits),
    )
    try:
        assert pids_in(product.namespace) == [pid]
        listed = subprocess.run(["ip", "netns", "pids", product.namespace], capture_output=True)
        assert listed.stdout.split() == [str(pid).encode()]
        memberships = Path(f"/proc/{pid}/cgroup").read_text()
        for path in limits.paths:
            controller_root = path.parent.parent
            assert f":/{path.relative_to(controller_root)}\n" in memberships
        cpu = next(p for p in limits.paths if (p / "cpu.cfs_quota_us").exists())
        assert (cpu / "cpu.cfs_quota_us").read_text().strip() == "100000"  # cpus = 1.0
        memory = next(p for p in limits.paths if (p / "memory.limit_in_bytes").exists())
        assert int((memory / "memory.limit_in_bytes").read_text()) == 256 * 1024 * 1024
        tasks = next(p for p in limits.paths if (p / "pids.max").exists())
        assert (tasks / "pids.max").read_text().strip() == "128"

        address, port = str(product.address.ip), product.instance.port
        wait_listening(address, port)  # from the host, which may reach every instance
        gateway = network.endpoint("gateway-1").namespace  # gateway → product is a flow
        with connect_from(gateway, address, port, timeout=10) as conn:
            conn.sendall(b"hello\n")
            assert conn.recv(100) == b"hello\n"
        other = network.endpoint("product-2").namespace  # product → product is not
        with pytest.raises(TimeoutError):
            connect_from(other, address, port, timeout=1.0)
    finally:
        report = teardown(network.names)
    assert f"process {pid} in {product.namespace}" in report.removed
    assert not process.alive(pid)


def test_entering_a_missing_namespace_fails_in_the_parent() -> None:
    with pytest.raises(DriverError, match="does not exist"):
        enter_instance("sntest-no-such-instance")


def test_limits_that_cannot_be_applied_are_reasons_not_errors(tmp_path: Path) -> None:
    mountinfo = tmp_path / "mountinfo"
    mountinfo.write_text("22 1 0:21 / /proc rw,nosuid - proc proc rw\n")  # no cgroups at all
    service = default_topology().service("registry")
    limits = cgroups.apply(Names("sntest"), "registry-1", service, mountinfo=mountinfo)
    assert limits.paths == ()
    assert limits.applied == ()
    assert limits.problems == (
        "cpu limit not applied: no cpu cgroup controller is mounted",
        "memory limit not applied: no memory cgroup controller is mounted",
        "pids limit not applied: no pids cgroup controller is mounted",
    )


def test_cgroup_v2_limits_are_written_in_its_format(tmp_path: Path) -> None:
    # This machine's kernel runs cpu and memory on cgroup v1; Debian 12 hosts
    # usually run v2. A v2 hierarchy laid out as plain files checks the names and
    # formats we write there (the kernel's own files take the same writes).
    root = tmp_path / "cgroup2"
    root.mkdir()
    (root / "cgroup.controllers").write_text("cpuset cpu io memory pids\n")
    mountinfo = tmp_path / "mountinfo"
    mountinfo.write_text(f"35 24 0:30 / {root} rw,nosuid - cgroup2 cgroup2 rw\n")
    service = default_topology().service("order")  # cpus 0.5, memory 256 MiB

    limits = cgroups.apply(Names("sntest"), "order-1", service, mountinfo=mountinfo)
    path = root / "sntest" / "order-1"
    assert limits.problems == ()
    assert limits.paths == (path,)
    assert (path / "cpu.max").read_text() == "50000 100000"
    assert (path / "memory.max").read_text() == str(256 * 1024 * 1024)
    assert (path / "pids.max").read_text() == "128"
    # Controllers delegated to our parent (as files, the last "+controller" remains).
    assert (root / "sntest" / "cgroup.subtree_control").exists()
    assert limits.applied == (
        "cpu 0.5 (cgroup v2 quota 50000/100000 us)",
        "memory 256 MiB (cgroup v2)",
        "pids 128 (cgroup v2)",
    )
