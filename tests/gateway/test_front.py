"""The proxy path skips aiohttp's router (shopnet.gateway.listener) and behaves as through it."""

from __future__ import annotations

import asyncio

from aiohttp import web

from tests.gateway.conftest import Stack, admin


async def test_proxy_path_skips_the_router_and_everything_else_takes_it(
    stack: Stack, monkeypatch
) -> None:
    await stack.upstream("product-1")
    gateway = await stack.gateway(expect={"product": 1})
    router = gateway.app.router
    resolved: list[str] = []
    resolve = router.resolve

    async def counting(request: web.Request):  # type: ignore[no-untyped-def]
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
