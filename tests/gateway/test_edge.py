"""The public edge and the registry's admission, against real processes.

`shopnet serve registry` and `shopnet serve gateway` run as child processes on
loopback, as every mode starts them; the upstream is a recording app in the
test's loop, registered with the stack token like a real instance.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson
import pytest

from shopnet.common.registry_client import InstanceInfo, RegistryClient
from tests.gateway.conftest import Upstream
from tests.support.registry import AUTH, TOKEN, bindings_of
from tests.support.servers import free_port
from tests.support.waiting import until


@dataclass
class Edge:
    registry: str
    gateway: str
    admin: str
    product: Upstream
    session: aiohttp.ClientSession

    async def get(self, url: str, **kw: Any) -> tuple[int, dict[str, str], bytes]:
        async with self.session.get(url, **kw) as resp:
            return resp.status, dict(resp.headers), await resp.read()

    async def served_by(self, times: int = 6) -> set[str]:
        seen = set()
        for _ in range(times):
            async with self.session.get(self.gateway + "/api/products/1") as resp:
                assert resp.status == 200
                seen.add(resp.headers["X-Served-By"])
        return seen


def spawn(service: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
    base = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    return subprocess.Popen(
        [sys.executable, "-m", "shopnet", "serve", service], env={**base, **env}, cwd="/"
    )


@pytest.fixture
def processes(registry_token_file: str) -> Iterator[dict[str, str]]:
    ports = {name: free_port() for name in ("registry", "gateway", "admin")}
    common = {
        "SHOPNET_BIND": "127.0.0.1",
        "SHOPNET_REGISTRY_TOKEN_FILE": registry_token_file,
        "SHOPNET_REGISTRY_TOKENS_FILE": bindings_of(registry_token_file),
        "SHOPNET_DEREGISTER_GRACE_SECONDS": "0",
        "SHOPNET_DRAIN_SECONDS": "1",
    }
    registry_url = f"http://127.0.0.1:{ports['registry']}"
    procs = [
        spawn(
            "registry",
            {
                **common,
                "SHOPNET_PORT": str(ports["registry"]),
                "SHOPNET_REGISTRY_SWEEP_SECONDS": "0.05",
                # product only from 127.0.0.1 (the test's own source), the gateway anywhere
                # on loopback, nothing else at all
                "SHOPNET_REGISTRY_ALLOWED_SUBNETS": "product=127.0.0.1/32;gateway=127.0.0.0/8",
            },
        ),
        spawn(
            "gateway",
            {
                **common,
                "SERVICE_REGISTRY": registry_url,
                "SHOPNET_PORT": str(ports["gateway"]),
                "SHOPNET_ADMIN_PORT": str(ports["admin"]),
                "SHOPNET_INSTANCE_ID": "gateway-1",
                "SHOPNET_GATEWAY_WATCH_WAIT_SECONDS": "1",
            },
        ),
    ]
    try:
        yield {
            "registry": registry_url,
            "gateway": f"http://127.0.0.1:{ports['gateway']}",
            "admin": f"http://127.0.0.1:{ports['admin']}",
        }
    finally:
        for proc in reversed(procs):  # the gateway first: it deregisters from the registry
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture
async def edge(processes: dict[str, str], aiohttp_server) -> AsyncIterator[Edge]:
    product = Upstream("product-1", response_headers={"Server": "Upstream/1.2.3 (Debian)"})
    product.server = server = await aiohttp_server(product.app())
    async with aiohttp.ClientSession() as session:
        client = RegistryClient(session, processes["registry"], token=TOKEN)

        async def registered() -> bool:
            try:
                await client.register(
                    InstanceInfo("product-1", "product", "127.0.0.1", server.port, 60, 60)
                )
                return True
            except Exception:
                return False

        await until(registered, timeout=20, interval=0.1)
        edge = Edge(
            processes["registry"], processes["gateway"], processes["admin"], product, session
        )

        async def routed() -> bool:
            try:
                return (await edge.get(edge.gateway + "/api/products/1"))[0] == 200
            except aiohttp.ClientError:
                return False

        await until(routed, timeout=20, interval=0.1)
        yield edge


async def write(
    session: aiohttp.ClientSession, method: str, url: str, **kw: Any
) -> tuple[int, str]:
    async with session.request(method, url, **kw) as resp:
        return resp.status, (await resp.json())["error"]["code"]


async def test_forged_registrations_are_refused_and_routing_is_unchanged(
    edge: Edge, aiohttp_server
) -> None:
    evil = Upstream("evil")
    evil_server = await aiohttp_server(evil.app())
    target = {"service": "product", "address": "127.0.0.1", "port": evil_server.port}
    url = edge.registry + "/v1/instances/product-1"
    session = edge.session
    # no token: neither overwrite, nor a new id, nor renew/remove
    assert await write(session, "PUT", url, json=target) == (401, "unauthorized")
    new = edge.registry + "/v1/instances/product-evil"
    assert await write(session, "PUT", new, json=target) == (401, "unauthorized")
    assert await write(session, "DELETE", url) == (401, "unauthorized")
    # the token, but not the identity that registered product-1
    assert await write(session, "PUT", url, json=target, headers=AUTH) == (409, "conflict")
    for method, path in (("PUT", url + "/heartbeat"), ("DELETE", url)):
        assert await write(session, method, path, headers=AUTH) == (403, "forbidden")
    # a spoofed address: announcing 127.0.0.1 from 127.0.0.2, and the reverse
    spoofer = aiohttp.ClientSession(connector=aiohttp.TCPConnector(local_addr=("127.0.0.2", 0)))
    try:
        assert await write(spoofer, "PUT", new, json=target, headers=AUTH) == (
            403,
            "forbidden",
        )
        # its own address, but outside the subnet the topology gives product
        own = {**target, "address": "127.0.0.2"}
        assert await write(spoofer, "PUT", new, json=own, headers=AUTH) == (403, "forbidden")
    finally:
        await spoofer.close()
    spoofed = {**target, "address": "127.0.0.2"}
    assert await write(session, "PUT", new, json=spoofed, headers=AUTH) == (403, "forbidden")
    # a service the topology gives no subnet at all
    order = {**target, "service": "order"}
    assert await write(session, "PUT", new, json=order, headers=AUTH) == (403, "forbidden")

    assert await edge.served_by() == {"product-1"}
    assert evil.hits == 0
    status, _, body = await edge.get(edge.registry + "/v1/services/product")
    assert status == 200
    assert edge.product.server is not None
    assert [(i["id"], i["port"]) for i in orjson.loads(body)["instances"]] == [
        ("product-1", edge.product.server.port)
    ]


async def test_admin_endpoints_are_served_only_by_the_admin_listener(edge: Edge) -> None:
    for path in ("/metrics", "/ready", "/registry"):
        status, headers, body = await edge.get(edge.gateway + path)
        assert status == 404, path
        assert headers["Content-Type"].startswith("application/json")
        assert b"shopnet_" not in body and b"product-1" not in body
    status, _, body = await edge.get(edge.admin + "/metrics")
    assert status == 200 and b"shopnet_gateway_healthy_instances" in body
    status, _, body = await edge.get(edge.admin + "/ready")
    assert status == 200 and b"upstream:product" in body
    status, _, body = await edge.get(edge.admin + "/registry")
    assert status == 200 and b'"product-1"' in body
    assert (await edge.get(edge.gateway + "/health"))[0] == 200  # liveness stays public


async def test_a_spoofed_x_forwarded_for_does_not_reach_the_upstream(edge: Edge) -> None:
    status, _, _ = await edge.get(
        edge.gateway + "/api/products/1",
        headers={
            "X-Forwarded-For": "203.0.113.9, 10.0.0.1",
            "Forwarded": "for=203.0.113.9;proto=https",
            "X-Forwarded-Host": "admin.internal",
        },
    )
    assert status == 200
    seen = {k.lower(): v for k, v in edge.product.seen[-1]["headers"].items()}
    assert seen["x-forwarded-for"] == "127.0.0.1"
    assert "forwarded" not in seen
    assert "203.0.113.9" not in str(seen)


def raw_exchange(url: str, request: bytes) -> bytes:
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(request)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer


async def test_no_server_version_banner_anywhere(edge: Edge) -> None:
    for url in (
        edge.gateway + "/api/products/1",  # proxied: the upstream's banner is dropped
        edge.gateway + "/nowhere",
        edge.gateway + "/api/openapi.json",
        edge.admin + "/metrics",
        edge.registry + "/v1/services",
    ):
        _, headers, _ = await edge.get(url)
        assert headers.get("Server", "shopnet") == "shopnet", (url, headers.get("Server"))
    # Requests aiohttp answers itself, before any handler or middleware runs.
    answer = raw_exchange(edge.gateway, b"GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n")
    head = answer.split(b"\r\n\r\n", 1)[0].lower()
    assert head.split(b" ")[1] == b"400"
    assert b"aiohttp" not in head and b"python" not in head


async def test_oversized_request_heads_get_json_errors_from_the_gateway(edge: Edge) -> None:
    hits = edge.product.hits
    cases = [
        ({"X-Forwarded-For": "1" * 9000}, "/api/products/1", 431),
        ({f"X-Pad-{n}": "p" * 7000 for n in range(6)}, "/api/products/1", 431),
        ({}, "/api/products/1?q=" + "a" * 9000, 414),
    ]
    for headers, path, status in cases:
        got, response_headers, body = await edge.get(edge.gateway + path, headers=headers)
        assert got == status
        assert response_headers["Content-Type"].startswith("application/json")
        assert orjson.loads(body)["error"]["code"] in {
            "header_fields_too_large",
            "uri_too_long",
        }
    assert edge.product.hits == hits  # none of them reached the upstream


async def test_a_trusted_proxy_keeps_its_forwarding_chain(stack) -> None:
    product = await stack.upstream("product-1")
    gateway = await stack.gateway(expect={"product": 1}, trusted_proxies="127.0.0.0/8")
    headers = {"X-Forwarded-For": "203.0.113.9", "Forwarded": "for=203.0.113.9"}
    assert (await gateway.get("/api/products/1", headers=headers)).status == 200
    seen = {k.lower(): v for k, v in product.seen[-1]["headers"].items()}
    assert seen["x-forwarded-for"] == "203.0.113.9, 127.0.0.1"
    assert seen["forwarded"] == 'for=203.0.113.9, for="127.0.0.1"'
