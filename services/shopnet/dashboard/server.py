"""The dashboard's aiohttp app: the page, its static files, the picture, the SSE stream.

GET  /                 the page (static/index.html; no build step, nothing fetched)
GET  /picture          {"svg", "layout"}: the drawing of what runs now (svg.py)
GET  /events           Server-Sent Events: a full snapshot every tick, with an id
GET  /api/snapshot     the latest snapshot (for scripts and tests)
GET  /api/panels       audit and chart listings
POST /api/isolation    run `shopnet isolation` on the stack (its probes get denied)
POST /api/trace        {"source", "target", "port"?}: `shopnet trace` of one flow, as text
GET  /charts/{kind}/{name}   a PNG of the latest bench or chaos run

Only for the owner of the printed URL (shopnet.dashboard.guard: token, Host, Origin,
CSP); one probe run at a time (a second POST meanwhile gets 409).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from shopnet.common.background import cancel_and_wait, pause
from shopnet.dashboard import guard, layout, panels, svg
from shopnet.dashboard.collect import Collector
from shopnet.runtime.base import Driver
from shopnet.topology.model import Topology

STATIC = Path(__file__).parent / "static"
PING_SECONDS = 15.0
log = logging.getLogger("shopnet.dashboard")


@dataclass(frozen=True, slots=True)
class DashboardConfig:
    driver: Driver
    topology: Topology
    charts: panels.ChartDirs
    interval: float = 1.0
    """Seconds between snapshots (at most 1: the page promises an update a second)."""
    token: str = ""
    """The per-run token every request must carry (shopnet.dashboard.guard); empty: a
    fresh one is made."""


class Broadcast:
    """The latest snapshot, and a way for every open stream to wait for the next one."""

    def __init__(self) -> None:
        self.latest: dict[str, Any] | None = None
        self.changed = asyncio.Condition()
        self.closing = False

    async def publish(self, snapshot: dict[str, Any]) -> None:
        async with self.changed:
            self.latest = snapshot
            self.changed.notify_all()

    async def next_after(self, seq: int, timeout: float) -> dict[str, Any] | None:
        async with self.changed:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(
                    self.changed.wait_for(
                        lambda: self.closing or (self.latest or {}).get("seq", 0) > seq
                    ),
                    timeout,
                )
            return None if self.closing else self.latest


CONFIG = web.AppKey("dashboard_config", DashboardConfig)
COLLECTOR = web.AppKey("dashboard_collector", Collector)
BROADCAST = web.AppKey("dashboard_broadcast", Broadcast)
PROBING = web.AppKey("dashboard_probing", asyncio.Lock)
"""Held while isolation probes run: one run at a time, however many POSTs come."""


def create_app(cfg: DashboardConfig) -> web.Application:
    if not cfg.token:
        raise ValueError("the dashboard needs a token (guard.new_token())")
    app = web.Application(middlewares=[guard.middleware(cfg.token)])
    app[CONFIG] = cfg
    app[PROBING] = asyncio.Lock()
    app[COLLECTOR] = Collector(cfg.driver, cfg.topology, interval=cfg.interval)
    app[BROADCAST] = Broadcast()
    app.cleanup_ctx.append(_polling)
    app.on_shutdown.append(_close_streams)
    app.router.add_get("/", _index)
    app.router.add_get("/picture", _picture)
    app.router.add_get("/events", _events)
    app.router.add_get("/api/snapshot", _snapshot)
    app.router.add_get("/api/panels", _panels)
    app.router.add_post("/api/isolation", _isolation)
    app.router.add_post("/api/trace", _trace)
    app.router.add_get("/charts/{kind}/{name}", _chart)
    app.router.add_static("/static/", STATIC)
    return app


async def _polling(app: web.Application) -> AsyncIterator[None]:
    collector, broadcast = app[COLLECTOR], app[BROADCAST]

    async def loop() -> None:
        # One session, no proxies from the environment: everything scraped is our own stack.
        async with aiohttp.ClientSession() as session:
            while True:
                started = asyncio.get_running_loop().time()
                try:
                    await broadcast.publish(await collector.tick(session))
                except Exception:  # keep the page alive; say why in the log
                    log.exception("dashboard tick failed")
                elapsed = asyncio.get_running_loop().time() - started
                await pause(max(collector.interval - elapsed, 0.05))

    task = asyncio.create_task(loop(), name="dashboard-ticks")
    yield
    await cancel_and_wait(task)


async def _close_streams(app: web.Application) -> None:
    broadcast = app[BROADCAST]
    async with broadcast.changed:
        broadcast.closing = True
        broadcast.changed.notify_all()


async def _index(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})


async def _picture(request: web.Request) -> web.Response:
    collector = request.app[COLLECTOR]
    placed, titles = await asyncio.to_thread(lambda: (collector.placed(), collector.titles()))
    drawing = layout.compute(request.app[CONFIG].topology, placed, titles=titles)
    mode = request.app[CONFIG].driver.mode
    body = {
        "svg": svg.render(drawing, title=f"shopnet, {mode} mode"),
        "layout": drawing.as_json(),
        "mode": mode,
    }
    return web.json_response(body)


async def _events(request: web.Request) -> web.StreamResponse:
    resp = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no",
        }
    )
    await resp.prepare(request)
    broadcast = request.app[BROADCAST]
    seq = 0
    try:
        await resp.write(b"retry: 1000\n\n")
        while not broadcast.closing:
            snapshot = await broadcast.next_after(seq, PING_SECONDS)
            if snapshot is None or snapshot["seq"] <= seq:
                await resp.write(b": ping\n\n")
                continue
            seq = snapshot["seq"]
            data = json.dumps(snapshot, separators=(",", ":"))
            await resp.write(f"id: {seq}\nevent: snapshot\ndata: {data}\n\n".encode())
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    return resp


async def _snapshot(request: web.Request) -> web.Response:
    return web.json_response(request.app[BROADCAST].latest or {})


async def _panels(request: web.Request) -> web.Response:
    cfg = request.app[CONFIG]
    audit = await asyncio.to_thread(panels.audit, cfg.driver)
    return web.json_response({"audit": audit, "charts": panels.charts(cfg.charts)})


def _busy() -> web.Response:
    error = {"code": "busy", "message": "a probe run is under way; wait for its result"}
    return web.json_response({"error": error}, status=409)


async def _isolation(request: web.Request) -> web.Response:
    probing = request.app[PROBING]
    if probing.locked():
        return _busy()
    async with probing:
        result = await asyncio.to_thread(panels.isolation, request.app[CONFIG].driver)
    return web.json_response(result)


async def _trace(request: web.Request) -> web.Response:
    try:
        body = await request.json()
        source, target = str(body["source"]), str(body["target"])
        port = int(body["port"]) if body.get("port") is not None else None
    except (ValueError, KeyError, TypeError):
        raise web.HTTPBadRequest(text="expected JSON {source, target, port?}") from None
    driver, probing = request.app[CONFIG].driver, request.app[PROBING]
    if probing.locked():  # a trace probes as root too: one run at a time, like isolation's
        return _busy()
    async with probing:
        result = await asyncio.to_thread(panels.trace, driver, source, target, port)
    return web.json_response(result)


async def _chart(request: web.Request) -> web.FileResponse:
    path = panels.chart_file(
        request.app[CONFIG].charts, request.match_info["kind"], request.match_info["name"]
    )
    if path is None:
        raise web.HTTPNotFound()
    return web.FileResponse(path)


def run(cfg: DashboardConfig, *, port: int) -> None:
    """Serve on 127.0.0.1:`port` until interrupted (the CLI's `shopnet dashboard`)."""
    web.run_app(create_app(cfg), host="127.0.0.1", port=port, print=None, shutdown_timeout=2.0)
