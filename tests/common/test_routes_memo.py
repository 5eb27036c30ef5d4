"""The remembered routes (shopnet.common.routes_memo): the router is asked once per path."""

from __future__ import annotations

from aiohttp import web

from shopnet.common.http import NotFound, make_request_middleware
from shopnet.common.protocol import FRONT_HANDLER
from shopnet.common.routes_memo import remembered_routes
from tests.support.serving import ServedAsDeployed


async def test_the_router_is_asked_once_per_method_and_path(aiohttp_client, monkeypatch) -> None:
    async def item(request: web.Request) -> web.Response:
        if request.match_info["id"] == "missing":
            raise NotFound("no such item")
        return web.json_response({"id": request.match_info["id"], "method": request.method})

    app = web.Application(middlewares=[make_request_middleware()])
    app.router.add_route("*", "/items/{id}", item)
    app[FRONT_HANDLER] = remembered_routes(app, size=2)
    client = await aiohttp_client(ServedAsDeployed(app))
    resolved: list[str] = []
    resolve = app.router.resolve

    async def counting(request: web.Request):
        resolved.append(f"{request.method} {request.path}")
        return await resolve(request)

    monkeypatch.setattr(app.router, "resolve", counting)

    for _ in range(3):
        resp = await client.get("/items/1")
        assert await resp.json() == {"id": "1", "method": "GET"}
        assert "X-Request-ID" in resp.headers  # the middleware runs on the remembered path
    assert await (await client.put("/items/1")).json() == {"id": "1", "method": "PUT"}
    assert resolved == ["GET /items/1", "PUT /items/1"]

    # Unknown paths are the router's every time; errors keep their JSON shape.
    for _ in range(2):
        resp = await client.get("/nowhere")
        assert resp.status == 404 and (await resp.json())["error"]["code"] == "not_found"
    resp = await client.get("/items/missing")
    assert resp.status == 404 and (await resp.json())["error"]["message"] == "no such item"
    assert resolved[2:] == ["GET /nowhere", "GET /nowhere", "GET /items/missing"]

    # Past `size` entries the memo starts over: GET /items/1 is asked again.
    await client.get("/items/2")
    await client.get("/items/1")
    assert resolved[-2:] == ["GET /items/2", "GET /items/1"]

    # `Expect:` always takes the router's path (aiohttp answers 100-continue there).
    resp = await client.put("/items/1", data=b"x", headers={"Expect": "100-continue"})
    assert resp.status == 200
    assert resolved[-1] == "PUT /items/1"
