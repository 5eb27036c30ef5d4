"""validate's p99 against a real HTTP server: exact when the run completes, and stopped
early, as a lower bound, once more reads than a p99 may leave out were over the bound."""

from __future__ import annotations

import asyncio

from aiohttp import web

from shopnet.lab import validate


def _server(delay_s: float, served: list[int]) -> web.Application:
    async def product(request: web.Request) -> web.Response:
        served.append(1)
        await asyncio.sleep(delay_s)
        return web.json_response({"id": int(request.match_info["id"])})

    app = web.Application()
    app.router.add_get("/api/products/{id}", product)
    return app


async def test_a_slow_stack_stops_the_reads_early_with_a_lower_bound(aiohttp_server) -> None:
    served: list[int] = []
    server = await aiohttp_server(_server(0.05, served))
    gateway = validate.Gateway(str(server.make_url("")).rstrip("/"), {})
    outcome = await asyncio.to_thread(validate.p99, gateway, 10.0)
    assert not outcome.ok and "at least" in outcome.detail and "> bound 10.0 ms" in outcome.detail
    # 4 reads over the bound decide it; the 4 connections may each have one more in flight.
    assert len(served) <= 4 + validate.P99_CONNECTIONS


async def test_a_fast_stack_is_read_in_full_and_its_p99_is_exact(aiohttp_server) -> None:
    served: list[int] = []
    server = await aiohttp_server(_server(0.0, served))
    gateway = validate.Gateway(str(server.make_url("")).rstrip("/"), {})
    outcome = await asyncio.to_thread(validate.p99, gateway, 1000.0)
    assert outcome.ok and "at least" not in outcome.detail, outcome.detail
    assert len(served) == validate.P99_REQUESTS
