"""The proxy path skips aiohttp's router (shopnet.gateway.paths) and behaves as through it;
with the access log on, aiohttp serves it (and logs it)."""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web

from shopnet.common.protocol import FRONT_PROTOCOL
from tests.gateway.conftest import Stack, admin
from tests.support.wire import count_aiohttp_requests


async def test_proxy_path_skips_the_router_and_everything_else_takes_it(
    stack: Stack, monkeypatch
) -> None:
    await stack.upstream("product-1")
    gateway = await stack.gateway(expect={"product": 1})
    router = gateway.app.router
    resolved: list[str] = []
    resolve = router.resolve

    async def counting(request: web.Request):
        resolved.append(request.path)
        return await resolve(request)

    monkeypatch.setattr(router, "resolve", counting)

    for path in ("/api/products/7", "/api/products", "/api/products/"):
        resp = await gateway.get(path, headers={"X-Request-ID": "front-1"})
        assert resp.status == 200, path
        assert resp.headers["X-Request-ID"] == "front-1"
        assert resp.headers["X-Served-By"] == "product-1"
    assert resolved == []  # the proxy path never asked the router

    # Not a route prefix, the gateway's own paths, and `Expect:` go through the router.
    resp = await gateway.get("/api/productsX")
    assert resp.status == 404 and (await resp.json())["error"]["code"] == "not_found"
    assert (await gateway.get("/health")).status == 200
    assert (await gateway.get("/api/openapi.json")).status == 200
    resp = await gateway.post("/api/products/7", data=b"{}", headers={"Expect": "100-continue"})
    assert resp.status == 200
    assert resolved == ["/api/productsX", "/health", "/api/openapi.json", "/api/products/7"]

    # Metrics name the same route templates the router would have.
    await asyncio.sleep(0)
    text = await (await admin(gateway).get("/metrics")).text()
    for route in ("/api/products/{tail}", "/api/products"):
        assert f'route="{route}",status="200"' in text, route


async def test_with_the_access_log_on_aiohttp_serves_and_logs_the_proxy_path(
    stack: Stack, monkeypatch, caplog
) -> None:
    """The listener's own protocol writes no access log: a log that skipped the hot path
    would mislead, so with SHOPNET_ACCESS_LOG the protocol is not installed."""
    await stack.upstream("product-1")
    made = count_aiohttp_requests(monkeypatch, skip=("/products",))
    caplog.set_level(logging.INFO, logger="shopnet.access")
    quiet = await stack.gateway(expect={"product": 1})
    assert FRONT_PROTOCOL in quiet.app
    assert (await quiet.get("/api/products/1")).status == 200
    assert made == [] and not [r for r in caplog.records if r.name == "shopnet.access"]

    logged = await stack.gateway(expect={"product": 1}, access_log=True)
    assert FRONT_PROTOCOL not in logged.app
    resp = await logged.get("/api/products/1", headers={"X-Request-ID": "logged-1"})
    assert resp.status == 200
    assert made == ["/api/products/1"]
    lines = [r for r in caplog.records if r.name == "shopnet.access"]
    assert [(r.path, r.status, r.request_id) for r in lines] == [
        ("/api/products/1", 200, "logged-1")
    ]
