"""Helpers for the docker tests: an isolated test topology, HTTP calls, probes in containers.

The tests run the stack on a copy of the default topology with its own prefix
(`snt`: project, labels, bridges `sntd-*`), subnets no route on this host uses,
and a free published port, so they never collide with a default `shopnet up` (or
the netns mode's bridges) on the same machine. Everything else — services, flows,
limits — is the default topology's.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from ipaddress import IPv4Network
from pathlib import Path
from typing import Any

import pytest

from shopnet.runtime import tokens
from shopnet.runtime.base import Driver
from shopnet.runtime.confine import secret_store
from shopnet.runtime.progress import Progress
from shopnet.runtime.variant import Variant
from shopnet.topology import Topology, default_topology
from shopnet_docker.driver import DockerDriver
from shopnet_docker.engine import Docker
from shopnet_docker.preflight import host_routes
from tests.docker.conftest import leftovers
from tests.support.servers import free_port

TEST_PREFIX = "snt"
_CANDIDATES = [f"10.{second}.{third}" for second in range(213, 230) for third in (0, 10)]

# Never through a proxy from the environment: everything we call is on this host.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def free_subnets(count: int) -> list[IPv4Network]:
    """`count` consecutive /24s that overlap no route on this host."""
    routed = [network for _, network in host_routes() if network.prefixlen]
    for base in _CANDIDATES:
        first, second, third = (int(x) for x in base.split("."))
        subnets = [IPv4Network(f"{first}.{second}.{third + i}.0/24") for i in range(count)]
        if not any(s.overlaps(r) for s in subnets for r in routed):
            return subnets
    raise RuntimeError("no free test subnets among the candidates")


def isolated_topology(*, prefix: str = TEST_PREFIX, published_port: int | None = None) -> Topology:
    base = default_topology()
    *subnets, single = free_subnets(len(base.tiers) + 1)
    tiers = tuple(
        dataclasses.replace(tier, subnet=subnet)
        for tier, subnet in zip(base.tiers, subnets, strict=True)
    )
    assert base.single_network is not None
    return dataclasses.replace(
        base,
        prefix=prefix,
        tiers=tiers,
        published_port=published_port or free_port(),
        single_network=dataclasses.replace(base.single_network, subnet=single),
    )


def topology_toml(topology: Topology) -> str:
    """The default topology file, rewritten with `topology`'s prefix, port and subnets."""
    default = default_topology()
    text = (Path(__file__).parents[2] / "services/shopnet/topology/default.toml").read_text()
    text = text.replace(f'prefix = "{default.prefix}"', f'prefix = "{topology.prefix}"', 1)
    text = text.replace(
        f"published_port = {default.published_port}",
        f"published_port = {topology.published_port}",
        1,
    )
    for old, new in zip(default.tiers, topology.tiers, strict=True):
        text = text.replace(f'subnet = "{old.subnet}"', f'subnet = "{new.subnet}"', 1)
    return text


@dataclasses.dataclass(frozen=True, slots=True)
class Reply:
    status: int
    headers: dict[str, str]
    body: Any


def admin(driver: Driver) -> dict[str, str]:
    """An admin's Authorization field for the running stack of `driver` (`shopnet token`)."""
    return tokens.admin_headers(secret_store(driver.layout))


def http(
    method: str,
    url: str,
    body: Any = None,
    *,
    headers: dict[str, str] | None = None,
    timeout: float = 10.0,
) -> Reply:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with _OPENER.open(request, timeout=timeout) as resp:
            raw = resp.read()
            return Reply(resp.status, dict(resp.headers), json.loads(raw) if raw else None)
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        try:
            parsed = json.loads(raw) if raw else None
        except ValueError:
            parsed = raw.decode(errors="replace")
        return Reply(exc.code, dict(exc.headers), parsed)


def wait_until(condition: Any, *, timeout: float, what: str, interval: float = 0.2) -> None:
    """Poll `condition` until true; fail with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout}s")
        time.sleep(interval)


from shopnet_docker.isolation import probe  # noqa: E402,F401 - re-exported for the tests


def shopnet(*args: str, env: dict[str, str] | None = None, timeout: float = 300) -> Any:
    """Run the `shopnet` command (as users do); returns the CompletedProcess."""
    return subprocess.run(
        [sys.executable, "-m", "shopnet", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        check=False,
    )


@contextlib.contextmanager
def outside_world(subnet: IPv4Network, *, name: str = "snt-outside") -> Iterator[str]:
    """A host beyond the testbed: a namespace behind a veth, reached by forwarding.

    Its listener (port OUTSIDE_PORT) answers whoever the host forwards to it, so a
    container with a way out connects and one without cannot. Yields its address.
    Removed afterwards (the namespace takes its veth end with it).
    """
    host_end, far_end = f"{name[:8]}-h", f"{name[:8]}-o"
    host_ip, far_ip = subnet.network_address + 1, subnet.network_address + 2
    prefix = subnet.prefixlen

    def ip(*args: str, check: bool = True) -> None:
        subprocess.run(["ip", *args], check=check, capture_output=True, timeout=10)

    listener: subprocess.Popen[bytes] | None = None
    try:
        ip("netns", "add", name)
        ip("link", "add", host_end, "type", "veth", "peer", "name", far_end, "netns", name)
        ip("addr", "add", f"{host_ip}/{prefix}", "dev", host_end)
        ip("link", "set", host_end, "up")
        ip("-n", name, "addr", "add", f"{far_ip}/{prefix}", "dev", far_end)
        ip("-n", name, "link", "set", far_end, "up")
        ip("-n", name, "link", "set", "lo", "up")
        ip("-n", name, "route", "add", "default", "via", str(host_ip))
        listener = subprocess.Popen(
            ["ip", "netns", "exec", name, sys.executable, "-c", _LISTENER, str(OUTSIDE_PORT)],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        assert listener.stdout is not None
        assert listener.stdout.readline().strip() == b"listening"
        yield str(far_ip)
    finally:
        if listener is not None:
            listener.kill()
            listener.wait()
            if listener.stdout is not None:
                listener.stdout.close()
        ip("netns", "del", name, check=False)
        ip("link", "del", host_end, check=False)


OUTSIDE_PORT = 8000
_LISTENER = """
import socket, sys
server = socket.create_server(("0.0.0.0", int(sys.argv[1])))
print("listening", flush=True)
while True:
    conn, _ = server.accept()
    conn.close()
"""


@contextlib.contextmanager
def running_stack(
    docker: Docker,
    root: Path,
    *,
    prefix: str = TEST_PREFIX,
    variant: Variant | None = None,
    scale: dict[str, int] | None = None,
) -> Iterator[DockerDriver]:
    """A docker stack of the test's own prefix (no compat port): a killed earlier run's
    leftovers cleared, up, and on the way out down with nothing of the prefix left."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("SHOPNET_COMPAT_PORT", "0")
        driver = DockerDriver(
            topology=isolated_topology(prefix=prefix),
            root=root,
            progress=Progress(quiet=True),
            variant=variant or Variant(),
        )
        try:
            clear_own_leftovers(driver)
            driver.up(scale=scale or {})
            yield driver
        finally:
            result = driver.down(volumes=True)
            assert result.problems == (), result.problems
            assert leftovers(docker, prefix) == []


def clear_own_leftovers(driver: DockerDriver) -> None:
    """Remove what a killed earlier run of this test left under the test's own prefix.

    The prefix belongs to the test alone (a person's stack is `shopnet`), so what carries it
    is ours: without this, one interrupted run makes every later run refuse to start.
    """
    result = driver.down(volumes=True)
    assert result.problems == (), result.problems
