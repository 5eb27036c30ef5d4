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
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import asyncpg
import pytest

from tests.support import tokens
from tests.support.registry import bindings_of, write_token_file
from tests.support.servers import PostgresServer, RedisServer, free_port

pytestmark = [pytest.mark.slow, pytest.mark.isolated]

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
    token_file = write_token_file(tmp_path_factory.mktemp("contract-token"))
    registry = f"http://127.0.0.1:{ports['registry']}"
    common = {
        "PATH": os.environ["PATH"],
        "SERVICE_REGISTRY": registry,
        "SHOPNET_BIND": "127.0.0.1",
        "SHOPNET_ADVERTISE_ADDRESS": "127.0.0.1",
        "SHOPNET_REGISTRY_TOKEN_FILE": token_file,
        "SHOPNET_REGISTRY_TOKENS_FILE": bindings_of(token_file),
        "SHOPNET_GATEWAY_TOKEN_KEY_FILE": tokens.write_key_file(tmp_path_factory.mktemp("key")),
        # The fuzzer's requests come fast from one address with one token: not what is tested.
        "SHOPNET_GATEWAY_RATE_PER_SECOND": "0",
        "DATABASE_URL": postgres_server.dsn(name),
        "REDIS_URL": redis_server.url.rsplit("/", 1)[0] + "/7",
        "SHOPNET_SEED_PRODUCTS": "50",
        # Generous time: on a loaded machine a slow answer must not read as a contract
        # failure (a 504 is a 5xx, which schemathesis counts).
        "SHOPNET_GATEWAY_TRY_TIMEOUT_SECONDS": "10",
        "SHOPNET_GATEWAY_TOTAL_TIMEOUT_SECONDS": "20",
        "SHOPNET_ORDER_BUDGET_SECONDS": "9",
        "SHOPNET_PRODUCT_TIMEOUT_SECONDS": "4",
    }
    procs: list[subprocess.Popen] = []
    try:
        for service in ("registry", "product", "order", "gateway"):
            with open(logs / f"{service}.log", "wb") as log:
                procs.append(
                    subprocess.Popen(
                        [sys.executable, "-m", "shopnet", "serve", service],
                        # The gateway's admin listener on a free port too, never a stack's.
                        env={
                            **common,
                            "SHOPNET_PORT": str(ports[service]),
                            "SHOPNET_ADMIN_PORT": str(free_port() if service == "gateway" else 0),
                        },
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


def _call(method: str, url: str, body: object = None, headers: dict | None = None):
    """A request as an admin, unless `headers` say otherwise (`Authorization: ""`: nobody)."""
    data = None if body is None else json.dumps(body).encode()
    fields = {"Content-Type": "application/json", **tokens.ADMIN, **(headers or {})}
    req = urllib.request.Request(
        url, data=data, method=method, headers={k: v for k, v in fields.items() if v}
    )
    try:
        with _OPENER.open(req, timeout=10) as resp:
            return resp.status, dict(resp.headers), json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), json.loads(exc.read() or b"null")


def test_the_last_units_through_the_gateway(gateway: str) -> None:
    """Before the fuzzer runs: N concurrent orders for the last K units, through the
    gateway, make K orders and N-K 409s; the product answers the new stock at once."""
    k, n = 4, 16
    status, _, _ = _call("PATCH", f"{gateway}/api/products/2", {"stock": k})
    assert status == 200
    assert _call("GET", f"{gateway}/api/products/2")[2]["stock"] == k  # now cached
    order = {"customer_id": "c-rush", "items": [{"product_id": 2, "quantity": 1}]}
    with ThreadPoolExecutor(n) as pool:
        results = list(pool.map(lambda _: _call("POST", f"{gateway}/api/orders", order), range(n)))
    assert sorted(r[0] for r in results) == [201] * k + [409] * (n - k)
    assert {r[2]["error"]["code"] for r in results if r[0] == 409} == {"insufficient_stock"}
    assert _call("GET", f"{gateway}/api/products/2")[2]["stock"] == 0
    placed = next(r[2] for r in results if r[0] == 201)
    cancelled = _call("POST", f"{gateway}/api/orders/{placed['id']}/cancel")
    assert cancelled[0] == 200 and cancelled[2]["status"] == "cancelled"
    assert _call("GET", f"{gateway}/api/products/2")[2]["stock"] == 1
    # A replay through the gateway: the original 201 and body, marked.
    key = {"Idempotency-Key": '"contract-replay-1"'}
    first = _call("POST", f"{gateway}/api/orders", order, key)
    again = _call("POST", f"{gateway}/api/orders", order, key)
    assert (first[0], again[0]) == (201, 201) and first[2] == again[2]
    assert again[1].get("Idempotent-Replayed") == "true"


def test_who_may_do_what_through_the_gateway(gateway: str) -> None:
    """Catalog reads are public, changes an admin's; orders are their customer's."""
    nobody, alice, bob = {"Authorization": ""}, tokens.bearer("alice"), tokens.bearer("bob")
    assert _call("GET", f"{gateway}/api/products/3", headers=nobody)[0] == 200
    assert _call("PATCH", f"{gateway}/api/products/3", {"price_cents": 0}, nobody)[0] == 401
    assert _call("PATCH", f"{gateway}/api/products/3", {"price_cents": 0}, alice)[0] == 403
    assert _call("DELETE", f"{gateway}/api/products/3", headers=alice)[0] == 403
    mine = {"customer_id": "alice", "items": [{"product_id": 3, "quantity": 1}]}
    status, _, order = _call("POST", f"{gateway}/api/orders", mine, alice)
    assert status == 201, order
    assert _call("POST", f"{gateway}/api/orders", mine, bob)[0] == 403
    assert _call("POST", f"{gateway}/api/orders", mine, nobody)[0] == 401
    assert _call("GET", f"{gateway}/api/orders/{order['id']}", headers=bob)[0] == 403
    assert _call("GET", f"{gateway}/api/orders?customer_id=alice", headers=bob)[0] == 403
    assert _call("POST", f"{gateway}/api/orders/{order['id']}/cancel", headers=bob)[0] == 403
    listed = _call("GET", f"{gateway}/api/orders?customer_id=alice", headers=alice)
    assert [o["id"] for o in listed[2]["items"]] == [order["id"]]
    assert _call("POST", f"{gateway}/api/orders/{order['id']}/cancel", headers=alice)[0] == 200


def test_a_4301_digit_id_is_a_400_and_ejects_nobody(gateway: str) -> None:
    for _ in range(10):  # more than the gateway's ejection threshold
        status, _, body = _call("GET", f"{gateway}/api/products/{'9' * 4301}")
        assert status == 400 and body["error"]["code"] == "validation_failed"
        status, _, body = _call("GET", f"{gateway}/api/products?ids=1,{'9' * 4301}")
        assert status == 400
    assert _call("GET", f"{gateway}/api/products/1")[0] == 200


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
            # An admin may do everything the document describes (the test key, no stack's).
            "--header",
            f"Authorization: {tokens.ADMIN['Authorization']}",
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
        cwd=tmp_path,  # its .schemathesis cache goes there, not into the checkout
        check=False,
    )
    report = result.stdout[-20000:] + result.stderr[-5000:]
    assert result.returncode == 0, report
    assert "No issues found" in result.stdout or " passed" in result.stdout, report
