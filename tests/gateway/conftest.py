"""Fixtures for the gateway: a real registry app, real upstream apps on loopback, the gateway.

An `Upstream` is a small aiohttp app standing in for a product or order instance:
it echoes what it received (method, path, query, headers, body) and can be told to
answer with a status, to be slow, or to drop the connection. It is registered in
the registry like a real instance, and the gateway finds it by watching.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from shopnet.common.admin import ADMIN_APP
from shopnet.common.registry_client import InstanceInfo, RegistryClient
from shopnet.gateway.app import create_app
from shopnet.gateway.config import GatewayConfig
from shopnet.gateway.edge import parser_limits
from shopnet.gateway.keys import DISCOVERY, GATEWAY_CONFIG
from shopnet.registry.app import create_app as create_registry_app
from shopnet.registry.config import RegistryConfig
from tests.support import tokens
from tests.support.registry import TOKEN, bindings_of
from tests.support.servers import free_port
from tests.support.serving import ServedAsDeployed
from tests.support.waiting import until


@dataclass
class Upstream:
    """A real HTTP instance whose behaviour a test sets."""

    id: str
    status: int = 200
    delay: float = 0.0
    drop: bool = False
    """Close the connection without answering (after reading the request)."""
    response_headers: dict[str, str] = field(default_factory=dict)
    seen: list[dict[str, Any]] = field(default_factory=list)
    server: TestServer | None = None

    @property
    def hits(self) -> int:
        return len(self.seen)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        self.seen.append(
            {
                "method": request.method,
                "path": request.path,
                "raw_path": request.raw_path,
                "query": request.query_string,
                "headers": dict(request.headers),
                "body": body,
            }
        )
        if self.drop:
            assert request.transport is not None
            request.transport.abort()
            return web.Response()
        if self.delay:
            await asyncio.sleep(self.delay)
        payload = {"instance": self.id, "method": request.method, "path": request.raw_path}
        return web.Response(
            body=orjson.dumps(payload),
            status=self.status,
            content_type="application/json",
            headers=self.response_headers,
        )

    def app(self) -> web.Application:
        app = web.Application(client_max_size=16 << 20)
        app.router.add_route("*", "/{tail:.*}", self.handle)
        return app


@dataclass
class Stack:
    """The registry, and helpers to add instances to it and to build gateways."""

    registry: TestServer
    registry_url: str
    client: RegistryClient
    start_server: Callable[..., Awaitable[TestServer]]
    start_client: Callable[..., Awaitable[TestClient]]
    token_file: str
    key_file: str

    async def upstream(
        self, instance_id: str, *, service: str = "product", port: int | None = None, **kw: Any
    ) -> Upstream:
        """Start an upstream app and register it."""
        upstream = Upstream(instance_id, **kw)
        upstream.server = await self.start_server(upstream.app(), port=port)
        assert upstream.server.port is not None
        await self.register(instance_id, service=service, port=upstream.server.port)
        return upstream

    async def register(self, instance_id: str, *, service: str = "product", port: int) -> None:
        """Register an instance (a port with nothing behind it makes a dead one)."""
        await self.client.register(
            InstanceInfo(instance_id, service, "127.0.0.1", port, ttl=60.0, deregister_after=60.0)
        )

    async def deregister(self, instance_id: str) -> None:
        await self.client.deregister(instance_id)

    def config(self, **overrides: Any) -> GatewayConfig:
        settings: dict[str, Any] = {
            "registry_url": self.registry_url,
            "register": False,
            "port": free_port(),
            "try_timeout_seconds": 1.0,
            "connect_timeout_seconds": 0.5,
            "total_timeout_seconds": 3.0,
            "watch_wait_seconds": 5.0,
            "token_key_file": self.key_file,
            "rate_per_second": 0.0,  # tests/gateway/test_access.py turns it on
        }
        settings.update(overrides)
        return GatewayConfig.from_env({}, **settings)

    async def gateway(
        self, *, expect: dict[str, int] | None = None, **overrides: Any
    ) -> TestClient:
        """A gateway client, once its pools hold `expect` instances (default: 0 product)."""
        client = await self.serve(create_app(self.config(**overrides)))
        await wait_for_pool(client, expect or {"product": 0})
        return client

    async def serve(self, app: web.Application) -> TestClient:
        """A client of the gateway `app`, whose admin listener is served too (see `admin`).

        Served as `shopnet serve` does, proxy path and all (FrontAppRunner)."""
        options = parser_limits(app[GATEWAY_CONFIG].max_header_bytes)
        # An admin's token by default: the routes' rules are tests/gateway/test_access.py's.
        client = await self.start_client(
            ServedAsDeployed(app, runner_options=options), headers=tokens.ADMIN
        )
        _ADMINS[id(client.app)] = await self.start_client(app[ADMIN_APP])
        return client


_ADMINS: dict[int, TestClient] = {}


def admin(gateway: TestClient) -> TestClient:
    """The admin listener of a gateway served by `Stack.serve` (/ready, /metrics, /registry)."""
    return _ADMINS[id(gateway.app)]


async def wait_for_pool(client: TestClient, expect: dict[str, int]) -> None:
    """Until the gateway has synced and sees exactly `expect[service]` instances of each."""
    discovery = client.app[DISCOVERY]

    def synced() -> bool:
        return all(
            service in discovery.watches
            and discovery.watches[service].synced.is_set()
            and len(discovery.pools[service].endpoints) == count
            for service, count in expect.items()
        )

    await until(synced, timeout=5)


async def metric(gateway: TestClient, name: str, **labels: str) -> float:
    """The value of one sample from the gateway's /metrics (0 when absent)."""
    text = await (await admin(gateway).get("/metrics")).text()
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        if line.startswith(f"{name}{{{wanted}}} ") or (not labels and line.startswith(name + " ")):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def errors(gateway: TestClient, kind: str) -> float:
    return await metric(
        gateway, "shopnet_gateway_upstream_errors_total", kind=kind, service="product"
    )


@pytest.fixture
async def stack(
    aiohttp_server, aiohttp_client, registry_token_file: str, tmp_path
) -> AsyncIterator[Stack]:
    registry = await aiohttp_server(
        create_registry_app(
            RegistryConfig.from_env({}, tokens_file=bindings_of(registry_token_file))
        )
    )
    async with aiohttp.ClientSession() as session:
        url = str(registry.make_url("/"))
        client = RegistryClient(session, url, token=TOKEN)
        yield Stack(
            registry,
            url,
            client,
            aiohttp_server,
            aiohttp_client,
            registry_token_file,
            tokens.write_key_file(tmp_path),
        )
