"""The lifecycle every mode shares (runtime.base.Driver), on real processes.

A small driver, local mode with every instance on a free loopback port, runs a
real redis-server and a real registry; what fails, and how, is chosen by the test:
the original error must survive the rollback, annotated with what `down()` could
not do, and nothing we started may outlive a failed `up`.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from shopnet.errors import DriverError, StateError
from shopnet.runtime import cgroups, process
from shopnet.runtime.launch import Placement
from shopnet.runtime.local import LOOPBACK, LocalDriver
from shopnet.runtime.progress import Progress
from shopnet.runtime.state import StackState
from shopnet.topology.load import parse
from shopnet.topology.model import Topology
from tests.support.servers import free_port, scratch_dir


def tiny_topology(published_port: int) -> Topology:
    """A registry and a Redis cache on free ports; the 'gateway' is the test's HTTP server."""
    return parse(
        {
            "prefix": "sntest",
            "published_port": published_port,
            "tiers": {"backend": {"bridge": "br-sntest", "subnet": "10.254.0.0/24"}},
            "services": {
                "registry": {"tier": "backend", "host": 10, "port": free_port()},
                "redis": {
                    "kind": "datastore",
                    "engine": "redis",
                    "durability": "cache",
                    "tier": "backend",
                    "host": 11,
                    "port": free_port(),
                },
            },
        },
        source="test topology",
    )


class ProbeDriver(LocalDriver):
    """Local mode on the topology's own ports, with failures on demand."""

    smoke_timeout = 1.0
    fail_in_wait: bool = False
    teardown: tuple[list[str], list[str]] | Exception = ([], [])
    seen_scale: dict[str, int] | None = None

    def placements(self, scale: dict[str, int]) -> list[Placement]:
        return [
            Placement(i, bind=LOOPBACK, address=LOOPBACK, port=i.port)
            for i in self.topology.plan(scale)
        ]

    def check_placements(self, scale: dict[str, int], placements: list[Placement]) -> None:
        self.seen_scale = scale
        super().check_placements(scale, placements)

    def wait_ready(self, state: StackState) -> None:
        super().wait_ready(state)
        if self.fail_in_wait:
            raise DriverError("boom: the stack did not get ready")

    def teardown_network(self, state: StackState | None) -> tuple[list[str], list[str]]:
        if isinstance(self.teardown, Exception):
            raise self.teardown
        return self.teardown


class Products(BaseHTTPRequestHandler):
    """What the smoke test asks the gateway for."""

    def do_GET(self) -> None:
        body = json.dumps({"items": [], "page": 1}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def gateway() -> Iterator[int]:
    server = ThreadingHTTPServer((LOOPBACK, 0), Products)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


@pytest.fixture
def root() -> Iterator[Path]:
    path = scratch_dir("shopnet-hosted-")  # the datastores' user must reach it
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def warnings() -> io.StringIO:
    return io.StringIO()


@pytest.fixture
def driver(root: Path, gateway: int, warnings: io.StringIO) -> Iterator[ProbeDriver]:
    made = ProbeDriver(
        topology=tiny_topology(gateway), root=root, progress=Progress(warnings, quiet=True)
    )
    yield made
    made.teardown = ([], [])
    made.down(volumes=True)


def running_pids(driver: ProbeDriver) -> list[int]:
    pids = process.records(driver.layout.pids) if driver.layout.pids.exists() else []
    return [r.pid for r in pids if process.alive(r.pid)]


def test_up_status_and_down(driver: ProbeDriver) -> None:
    result = driver.up(scale={})
    assert driver.seen_scale == {}  # preflight is handed the scale itself
    assert result.instances == ("redis-1", "registry-1")  # datastores first
    assert driver.require_state().phase == "up"
    assert {r.instance: r.health for r in driver.status()} == {
        "redis-1": "ready",
        "registry-1": "ready",
    }
    pids = running_pids(driver)
    assert len(pids) == 3  # the two instances and the stack's supervisor
    with pytest.raises(StateError, match="already running"):
        driver.up(scale={})

    down = driver.down()
    assert down.problems == ()
    processes = [r for r in down.removed if not r.startswith("cgroup ")]
    assert sorted(r.split(" (")[0] for r in processes) == [
        "process redis-1",
        "process registry-1",
        "process supervisor",
    ]
    # As root, each instance's pids cgroup goes too (and their parent).
    groups = [r for r in down.removed if r.startswith("cgroup ")]
    assert len(groups) == (3 if os.geteuid() == 0 and "pids" in cgroups.controllers() else 0)
    assert not any(process.alive(pid) for pid in pids)
    assert not driver.layout.state_file.exists()
    assert driver.layout.data.exists()  # data outlives a plain down


def test_down_volumes_removes_the_data_without_a_stack(driver: ProbeDriver) -> None:
    driver.up(scale={})
    driver.down()
    assert driver.has_data() and not driver.present()
    result = driver.down(volumes=True)
    assert f"data in {driver.layout.data}" in result.removed
    assert not driver.has_data()


def test_leftovers_of_a_crash_are_refused(driver: ProbeDriver) -> None:
    StackState(mode="local", scale={}).save(driver.layout)  # an `up` killed after its first step
    with pytest.raises(StateError, match=r"leftovers of a crashed run .*shopnet down"):
        driver.up(scale={})
    driver.down()
    driver.up(scale={})


def test_a_failed_up_rolls_back_and_keeps_its_error(
    driver: ProbeDriver, warnings: io.StringIO
) -> None:
    driver.fail_in_wait = True
    with pytest.raises(DriverError, match=r"^boom: the stack did not get ready$") as caught:
        driver.up(scale={})
    assert not hasattr(caught.value, "__notes__")  # down() had nothing to report
    assert running_pids(driver) == []
    assert not driver.layout.state_file.exists()
    assert "start-up failed; removing everything that was started" in warnings.getvalue()


def test_what_down_could_not_remove_is_noted_on_the_error(
    driver: ProbeDriver, warnings: io.StringIO
) -> None:
    driver.fail_in_wait = True
    driver.teardown = (["bridge br-sntest"], ["link sn-x: device busy"])
    with pytest.raises(DriverError, match=r"^boom") as caught:
        driver.up(scale={})
    assert caught.value.__notes__ == ["not removed: link sn-x: device busy"]
    assert "warning: link sn-x: device busy" in warnings.getvalue()
    assert running_pids(driver) == []


def test_a_cleanup_that_fails_too_does_not_hide_the_original_error(
    driver: ProbeDriver, warnings: io.StringIO
) -> None:
    driver.fail_in_wait = True
    driver.teardown = DriverError("cannot remove the bridge")
    with pytest.raises(DriverError, match=r"^boom") as caught:
        driver.up(scale={})
    note = "cleanup failed too: cannot remove the bridge; run `shopnet down --mode local`"
    assert caught.value.__notes__ == [note]
    assert note in warnings.getvalue()
    assert running_pids(driver) == []  # processes stop before the network goes


def test_the_smoke_test_retries_until_its_deadline(root: Path, warnings: io.StringIO) -> None:
    silent = free_port()  # nothing answers there
    driver = ProbeDriver(
        topology=tiny_topology(silent), root=root, progress=Progress(warnings, quiet=True)
    )
    try:
        with pytest.raises(DriverError, match=r"does not serve /api/products after 1s"):
            driver.up(scale={})
        assert running_pids(driver) == []
    finally:
        driver.down(volumes=True)
