"""The OpenAPI document is the contract: schemathesis, driven by /api/openapi.json, runs
every check in every phase (examples, coverage, fuzzing, stateful) against a running
stack, and finds nothing.

The stack is the test's own: `shopnet serve` processes for the registry, product, order
and gateway on free loopback ports, on the test session's private PostgreSQL (a database
of its own) and Redis (a database number of its own). So it shares no fixed port with a
person's stack (or another test's), and its generated DELETEs never touch anyone's
data. Bounded: a fixed seed, a few examples per operation and a time budget, so it
stays within about three minutes on two cores.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from tests.support.servers import PostgresServer, RedisServer, free_port

pytestmark = pytest.mark.slow

HERE = Path(__file__).parent
# Small on purpose: the coverage phase already walks every boundary of every schema.
MAX_EXAMPLES = int(os.environ.get("SHOPNET_CONTRACT_EXAMPLES", "10"))
MAX_SECONDS = int(os.environ.get("SHOPNET_CONTRACT_SECONDS", "120"))
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _get(url: str) -> int:
    try:
        with _OPENER.open(url, timeout=2) as resp:
            return resp.status
    except OSError:
        return 0


def _wait_for(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while _get(url) != 200:
        assert time.monotonic() < deadline, f"{url} did not answer 200 within {timeout}s"
        time.sleep(0.1)


async def _create_database(server: PostgresServer, name: str) -> None:
    admin = await asyncpg.connect(server.dsn("postgres"))
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()


@pytest.fixture(scope="module")
def gateway(
    postgres_server: PostgresServer, redis_server: RedisServer, tmp_path_factory
) -> Iterator[str]:
    """The gateway's base URL, with a registry, a product and an order service behind it."""
    name = f"contract_{os.getpid()}"
    asyncio.run(_create_database(postgres_server, name))
    logs = tmp_path_factory.mktemp("contract-logs")
    ports = {service: free_port() for service in ("registry", "product", "order", "gateway")}
    registry = f"http://127.0.0.1:{ports['registry']}"
    common = {
        "PATH": os.environ["PATH"],
        "SERVICE_REGISTRY": registry,
        "SHOPNET_BIND": "127.0.0.1",
        "SHOPNET_ADVERTISE_ADDRESS": "127.0.0.1",
        "DATABASE_URL": postgres_server.dsn(name),
        "REDIS_URL": redis_server.url.rsplit("/", 1)[0] + "/7",
        "SHOPNET_SEED_PRODUCTS": "50",
    }
    procs: list[subprocess.Popen] = []
    try:
        for service in ("registry", "product", "order", "gateway"):
            with open(logs / f"{service}.log", "wb") as log:
                procs.append(
                    subprocess.Popen(
                        [sys.executable, "-m", "shopnet", "serve", service],
                        env={**common, "SHOPNET_PORT": str(ports[service])},
                        stdout=log,
                        stderr=subprocess.STDOUT,
                    )
                )
            if service == "registry":
                _wait_for(f"{registry}/health")
        base = f"http://127.0.0.1:{ports['gateway']}"
        _wait_for(f"{base}/api/products/1")
        _wait_for(f"http://127.0.0.1:{ports['order']}/ready")
        yield base
    finally:
        for proc in reversed(procs):
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def test_the_api_matches_its_openapi_document(gateway: str, tmp_path: Path) -> None:
    st = Path(sys.executable).with_name("st")
    result = subprocess.run(
        [
            str(st),
            "--no-color",
            "--config-file",
            str(HERE / "schemathesis.toml"),
            "run",
            f"{gateway}/api/openapi.json",
            "--checks",
            "all",
            "--phases",
            "examples,coverage,fuzzing,stateful",
            "--max-examples",
            str(MAX_EXAMPLES),
            "--max-time",
            str(MAX_SECONDS),
            "--seed",
            "20261129",
            "--workers",
            "1",
            "--request-timeout",
            "10",
            "--generation-deterministic",
            "--report",
            "junit",
            "--report-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=MAX_SECONDS + 120,
        env={**os.environ, "NO_PROXY": "127.0.0.1", "SCHEMATHESIS_HOOKS": ""},
        check=False,
    )
    report = result.stdout[-20000:] + result.stderr[-5000:]
    assert result.returncode == 0, report
    assert "No issues found" in result.stdout or " passed" in result.stdout, report
