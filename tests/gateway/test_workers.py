"""The gateway as several worker processes: shared port, summed metrics, lifecycle.

The supervisor runs as a real child process (what `shopnet serve gateway` runs);
the registry and the upstream live in the test's event loop on loopback.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest

from shopnet.runtime.process import alive
from tests.gateway.conftest import Stack
from tests.support.servers import free_port
from tests.support.waiting import until

RUN = (
    "import sys\n"
    "from shopnet.gateway.app import run\n"
    "from shopnet.gateway.config import GatewayConfig\n"
    "sys.exit(run(GatewayConfig.from_env()))\n"
)


class Supervisor:
    def __init__(self, stack: Stack, workers: int) -> None:
        self.port = free_port()
        self.admin_port = free_port()
        env = {
            **os.environ,
            "SERVICE_REGISTRY": stack.registry_url,
            "SHOPNET_REGISTRY_TOKEN_FILE": stack.token_file,
            "SHOPNET_PORT": str(self.port),
            "SHOPNET_ADMIN_PORT": str(self.admin_port),
            "SHOPNET_BIND": "127.0.0.1",
            "SHOPNET_INSTANCE_ID": "gateway-test",
            "SHOPNET_ADVERTISE_ADDRESS": "127.0.0.1",
            "SHOPNET_GATEWAY_WORKERS": str(workers),
            "SHOPNET_GATEWAY_WATCH_WAIT_SECONDS": "1",
            "SHOPNET_DEREGISTER_GRACE_SECONDS": "0.1",
            "SHOPNET_DRAIN_SECONDS": "2",
        }
        env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        self.proc = subprocess.Popen([sys.executable, "-c", RUN], env=env)
        self.url = f"http://127.0.0.1:{self.port}"
        self.admin_url = f"http://127.0.0.1:{self.admin_port}"

    def workers(self) -> list[int]:
        found = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    stat = (entry / "stat").read_text()
                except OSError:
                    continue
                if int(stat.rsplit(")", 1)[1].split()[1]) == self.proc.pid:
                    found.append(int(entry.name))
        return found

    async def wait(self, timeout: float) -> int:
        return await asyncio.to_thread(self.proc.wait, timeout)

    def stop(self) -> None:
        """Stop it as an orchestrator would, so no worker outlives the test."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.proc.wait()


@pytest.fixture
def supervisors() -> Iterator[list[Supervisor]]:
    started: list[Supervisor] = []
    yield started
    for supervisor in started:
        supervisor.stop()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    # A new connection per request: SO_REUSEPORT spreads connections, not requests.
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as s:
        yield s


async def start(
    stack: Stack, supervisors: list[Supervisor], session: aiohttp.ClientSession, workers: int
) -> Supervisor:
    supervisor = Supervisor(stack, workers)
    supervisors.append(supervisor)

    async def serving() -> bool:
        try:
            async with session.get(supervisor.url + "/api/products/1") as resp:
                return resp.status == 200
        except aiohttp.ClientError:
            return False

    await until(serving, timeout=20, interval=0.1)
    await until(lambda: len(supervisor.workers()) == workers, timeout=5)
    return supervisor


async def products_served(session: aiohttp.ClientSession, url: str) -> float:
    async with session.get(url + "/metrics") as resp:
        text = await resp.text()
    for line in text.splitlines():
        if line.startswith(
            'shopnet_http_requests_total{method="GET",route="/api/products/{tail}",status="200"}'
        ):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def test_workers_share_the_port_and_sum_their_metrics(
    stack: Stack, supervisors: list[Supervisor], session: aiohttp.ClientSession
) -> None:
    upstream = await stack.upstream("product-1")
    supervisor = await start(stack, supervisors, session, workers=2)
    before = upstream.hits
    for _ in range(40):
        async with session.get(supervisor.url + "/api/products/1") as resp:
            assert resp.status == 200
    assert upstream.hits - before == 40
    # Whichever worker answers /metrics, it reports every worker's requests.
    counts = {await products_served(session, supervisor.admin_url) for _ in range(8)}
    assert counts == {before + 40.0}

    # Worker 0 registers the gateway (once listening); the others do not.
    async def registered() -> bool:
        return [i.id for i in (await stack.client.lookup("gateway"))[0]] == ["gateway-test"]

    await until(registered, timeout=5)

    # SIGTERM: workers deregister, drain and exit; the supervisor exits 0.
    workers = supervisor.workers()
    supervisor.proc.send_signal(signal.SIGTERM)
    assert await supervisor.wait(timeout=15) == 0
    assert not any(alive(pid) for pid in workers)
    instances, _ = await stack.client.lookup("gateway")
    assert instances == []


async def test_workers_die_with_a_killed_supervisor(
    stack: Stack, supervisors: list[Supervisor], session: aiohttp.ClientSession
) -> None:
    await stack.upstream("product-1")
    supervisor = await start(stack, supervisors, session, workers=2)
    workers = supervisor.workers()
    supervisor.proc.kill()
    await supervisor.wait(timeout=5)
    await until(lambda: not any(alive(pid) for pid in workers), timeout=15)


async def test_a_dead_worker_stops_the_gateway(
    stack: Stack, supervisors: list[Supervisor], session: aiohttp.ClientSession
) -> None:
    await stack.upstream("product-1")
    supervisor = await start(stack, supervisors, session, workers=2)
    first, second = supervisor.workers()
    os.kill(first, signal.SIGKILL)
    assert await supervisor.wait(timeout=15) == 1
    assert not alive(second)


async def test_port_in_use_fails_clearly(
    stack: Stack, supervisors: list[Supervisor], session: aiohttp.ClientSession
) -> None:
    await stack.upstream("product-1")
    running = await start(stack, supervisors, session, workers=2)
    env = {
        **os.environ,
        "SERVICE_REGISTRY": stack.registry_url,
        "SHOPNET_PORT": str(running.port),
        "SHOPNET_BIND": "127.0.0.1",
        "SHOPNET_GATEWAY_WORKERS": "2",
    }
    out = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-c", RUN],
        env=env,
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert out.returncode != 0
    assert f"cannot listen on 127.0.0.1:{running.port}: in use" in out.stderr
